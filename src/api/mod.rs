//! The inbound APIs beyond chat completions, each turned into the pipeline's requests:
//! files and batches, objects kept by id, the passthrough surfaces, the Anthropic
//! Messages and OpenAI Responses APIs, and the translation they share.

pub mod batch_file;
pub mod files;
pub mod kept;
pub mod messages;
pub mod responses;
pub mod surface;
pub mod translate;
