//! The ids the protocol passes around, each its own type so a node id cannot be handed where a session id is
//! meant. All are strings on the wire (and in TypeScript); a session id is the text of the UUID main assigned.

use serde::{Deserialize, Serialize};
use ts_rs::TS;

/// Declares a string id newtype with the conversions and comparisons its users need.
macro_rules! string_id {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Default, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, TS)]
        #[serde(transparent)]
        pub struct $name(String);

        impl $name {
            /// The id as text.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl std::ops::Deref for $name {
            type Target = str;
            fn deref(&self) -> &str {
                &self.0
            }
        }

        impl std::borrow::Borrow<str> for $name {
            fn borrow(&self) -> &str {
                &self.0
            }
        }

        impl From<String> for $name {
            fn from(s: String) -> Self {
                $name(s)
            }
        }

        impl From<&str> for $name {
            fn from(s: &str) -> Self {
                $name(s.to_string())
            }
        }

        impl From<$name> for String {
            fn from(id: $name) -> String {
                id.0
            }
        }

        impl PartialEq<str> for $name {
            fn eq(&self, other: &str) -> bool {
                self.0 == other
            }
        }

        impl PartialEq<&str> for $name {
            fn eq(&self, other: &&str) -> bool {
                self.0 == *other
            }
        }

        impl PartialEq<String> for $name {
            fn eq(&self, other: &String) -> bool {
                &self.0 == other
            }
        }
    };
}

string_id! {
    /// A node's id: its SSH user name, 1-64 of `A-Z a-z 0-9 . _ -` (see [`crate::protocol::valid_node_id`]).
    NodeId
}

string_id! {
    /// An agent session's id: the UUID main assigned it, as text.
    SessionId
}

impl From<uuid::Uuid> for SessionId {
    fn from(id: uuid::Uuid) -> Self {
        SessionId(id.to_string())
    }
}

impl SessionId {
    /// The UUID it names, if it is one.
    pub fn uuid(&self) -> Option<uuid::Uuid> {
        uuid::Uuid::parse_str(&self.0).ok()
    }
}

string_id! {
    /// An approval's (or question's) id, given by the node that asked.
    ApprovalId
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    /// Proves ids are plain strings on the wire, both ways.
    #[test]
    fn ids_are_strings_on_the_wire() {
        let id = SessionId::from(uuid::Uuid::nil());
        let json = serde_json::to_string(&id).unwrap();
        assert_eq!(json, "\"00000000-0000-0000-0000-000000000000\"");
        assert_eq!(serde_json::from_str::<SessionId>(&json).unwrap(), id);
        assert_eq!(id.uuid(), Some(uuid::Uuid::nil()));
        assert_eq!(NodeId::from("n1"), "n1");
    }
}
