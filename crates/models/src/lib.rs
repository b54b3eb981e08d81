//! Model backends: an OpenAI-compatible chat-completions client (OpenAI, vLLM, Ollama, llama.cpp
//! server...), the router that picks a backend by model name, and an embeddings client routed
//! the same way.

pub mod embeddings;
pub mod openai;
pub mod redact;
pub mod router;

pub use embeddings::RouteEmbedder;
pub use openai::{OpenAiCompatible, RetryPolicy};
pub use router::{ModelRoute, ModelRouter, RouteError};
