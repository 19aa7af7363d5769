// Small line icons for the files page and the header, drawn inline: emoji need a colour-emoji font, which many machines (and
// headless browsers) lack.
const PATHS = {
  file: "M4 1.5h5l3.5 3.5v9.5h-8.5z M9 1.5v3.5h3.5",
  folder: "M1.5 3h5l1.5 1.5h6.5v9h-13z",
  folderOpen: "M1.5 13.5V3h5L8 4.5h5v2.5 M1.5 13.5l2.2-6.5h11l-2.2 6.5z",
  link: "M6.5 9.5l3-3 M7 4.5l1.5-1.5a2.5 2.5 0 0 1 3.5 3.5L10.5 8 M9 11.5L7.5 13A2.5 2.5 0 0 1 4 9.5L5.5 8",
  other: "M8 2.5a5.5 5.5 0 1 0 0 11a5.5 5.5 0 1 0 0-11z",
  newFile: "M4 1.5h5l3.5 3.5v9.5h-8.5z M9 1.5v3.5h3.5 M8.25 7.5v5 M5.75 10h5",
  newFolder: "M1.5 3h5l1.5 1.5h6.5v9h-13z M8 6.5v5 M5.5 9h5",
  upload: "M8 11V2.5 M4.5 6L8 2.5L11.5 6 M2.5 13.5h11",
  download: "M8 2.5V11 M4.5 7.5L8 11l3.5-3.5 M2.5 13.5h11",
  rename: "M10.5 2.5l3 3l-8 8h-3v-3z M9 4l3 3",
  trash: "M2.5 4h11 M6 4V2.5h4V4 M4 4l.7 9.5h6.6L12 4 M6.75 6.5v4.5 M9.25 6.5v4.5",
  refresh: "M13.5 8a5.5 5.5 0 1 1-1.6-3.9 M13 1.5v3.5h-3.5",
  openHere: "M1.5 3h5l1.5 1.5h6.5v9h-13z M5 9h5 M8 7l2 2l-2 2",
  bell: "M4.5 11.5V7a3.5 3.5 0 0 1 7 0v4.5 M2.75 11.5h10.5 M6.5 14h3 M8 2v1.5",
} as const;

export type IconName = keyof typeof PATHS;

export function Icon({ name }: { name: IconName }) {
  return (
    <svg className="svg-icon" viewBox="0 0 16 16" width="16" height="16" aria-hidden="true" focusable="false">
      <path d={PATHS[name]} fill="none" stroke="currentColor" strokeWidth="1.3" strokeLinecap="round" strokeLinejoin="round" />
    </svg>
  );
}
