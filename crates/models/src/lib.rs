//! Model backends: an OpenAI-compatible chat-completions client (OpenAI, vLLM, Ollama, llama.cpp
//! server...) and the router that picks a backend by model name.

pub mod openai;
pub mod redact;
pub mod router;

pub use openai::{OpenAiCompatible, RetryPolicy};
pub use router::{ModelRoute, ModelRouter, RouteError};
