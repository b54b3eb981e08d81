//! Object ids: OpenAI's prefixes followed by 24 random base62 characters (~143 bits), drawn from
//! the thread-local CSPRNG so ids are unguessable.

use rand::Rng;

const ALPHABET: &[u8] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
const RANDOM_LEN: usize = 24;

/// The prefix of each kind of object.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IdKind {
    /// `asst_`
    Assistant,
    /// `thread_`
    Thread,
    /// `msg_`
    Message,
    /// `run_`
    Run,
    /// `step_`
    Step,
    /// `call_`
    ToolCall,
    /// `file-`
    File,
    /// `vs_`
    VectorStore,
    /// `vsfb_`
    FileBatch,
}

impl IdKind {
    /// The prefix, separator included.
    pub fn prefix(self) -> &'static str {
        match self {
            Self::Assistant => "asst_",
            Self::Thread => "thread_",
            Self::Message => "msg_",
            Self::Run => "run_",
            Self::Step => "step_",
            Self::ToolCall => "call_",
            Self::File => "file-",
            Self::VectorStore => "vs_",
            Self::FileBatch => "vsfb_",
        }
    }
}

/// A fresh id of the given kind.
pub fn new_id(kind: IdKind) -> String {
    let mut rng = rand::rng();
    let mut id = String::with_capacity(kind.prefix().len() + RANDOM_LEN);
    id.push_str(kind.prefix());
    for _ in 0..RANDOM_LEN {
        id.push(ALPHABET[rng.random_range(0..ALPHABET.len())] as char);
    }
    id
}

/// A typed id that can be drawn fresh: `ThreadId::fresh()`.
pub trait FreshId: From<String> {
    /// The kind of object the id names.
    const KIND: IdKind;

    /// A fresh id.
    fn fresh() -> Self {
        Self::from(new_id(Self::KIND))
    }
}

macro_rules! fresh_ids {
    ($($ty:ident => $kind:ident),* $(,)?) => {$(
        impl FreshId for assistd_wire::$ty {
            const KIND: IdKind = IdKind::$kind;
        }
    )*};
}

fresh_ids!(
    AssistantId => Assistant,
    ThreadId => Thread,
    MessageId => Message,
    RunId => Run,
    StepId => Step,
    FileId => File,
    VectorStoreId => VectorStore,
    FileBatchId => FileBatch,
);

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn ids_have_prefix_length_and_are_distinct() {
        let ids: HashSet<String> = (0..10_000).map(|_| new_id(IdKind::File)).collect();
        assert_eq!(ids.len(), 10_000);
        for id in &ids {
            assert!(id.starts_with("file-"));
            assert_eq!(id.len(), 5 + RANDOM_LEN);
            assert!(id[5..].bytes().all(|b| b.is_ascii_alphanumeric()));
        }
    }
}
