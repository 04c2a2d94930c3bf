//! `build`: Dockerfiles to images, step by step, as Docker's classic builder does it: every
//! instruction makes an image on top of the previous one, which is also what the cache keys on.
//!
//! The entry point for any crate (the CLI's `build`, later compose's `up --build`) is
//! [`build`]: it takes the store, the [`BuildOptions`], a [`StepRunner`] and a progress
//! callback, and returns the built image's ID. The engine parses the Dockerfile (parser.rs,
//! words.rs), reads sources from the context or other images (context.rs, dockerignore.rs,
//! fetch.rs), makes layers for COPY/ADD/WORKDIR itself, and keeps the cache (cache.rs); the
//! caller's runner only runs a RUN step's container, which the engine has created from the
//! intermediate image and will commit and remove. The split is forced by the runtime:
//! libcontainer must be driven from a single-threaded process (the CLI's per-container
//! monitor), which the engine cannot spawn itself.

mod cache;
mod context;
pub mod dockerignore;
mod fetch;
mod parser;
mod stage;
mod words;

use std::collections::BTreeMap;
use std::path::PathBuf;

use crate::digest::Digest;
use crate::error::Error;
use crate::store::Store;

pub use cache::{intermediate_images, remove_intermediates};
pub use dockerignore::Ignore;
pub use parser::{parse, Dockerfile, Instruction};
pub use stage::build;

#[derive(thiserror::Error, Debug)]
pub enum BuildError {
    /// A Dockerfile that does not parse, with Docker's wording.
    #[error("dockerfile parse error line {line}: {message}")]
    Parse { line: usize, message: String },
    /// A step that failed for a reason other than its command's exit status; the message
    /// starts with the instruction (`COPY failed: ...`, `ENV: ...`).
    #[error("Dockerfile line {line}: {message}")]
    Step { line: usize, message: String },
    /// A RUN whose command exited non-zero: Docker's message.
    #[error("The command '{command}' returned a non-zero code: {code}")]
    RunFailed { command: String, code: i32 },
    #[error("{0}")]
    Invalid(String),
    #[error(transparent)]
    Engine(#[from] Error),
}

/// What `berth build` was asked for. Paths are the caller's; the context must be a directory
/// (a tar context is unpacked by [`unpack_context`] first).
#[derive(Default, Debug, Clone)]
pub struct BuildOptions {
    pub context: PathBuf,
    /// The Dockerfile's text (the caller reads `-f`); `None` reads `Dockerfile` in the context.
    pub dockerfile_text: Option<String>,
    /// `-t`, validated before anything is built.
    pub tags: Vec<String>,
    /// `--build-arg K=V`, in order (later wins).
    pub build_args: Vec<(String, String)>,
    pub target: Option<String>,
    /// `--label`: set on the final image.
    pub labels: BTreeMap<String, String>,
    pub no_cache: bool,
    /// `--network` for RUN steps: "bridge" (the default), "none" or "host".
    pub network: Option<String>,
    pub platform: Option<String>,
}

/// Progress as the classic builder prints it.
#[derive(Debug)]
pub enum Event<'a> {
    /// `Step n/m : INSTRUCTION`
    Step {
        n: usize,
        total: usize,
        text: &'a str,
    },
    /// `# Executing n build triggers`
    Triggers(usize),
    /// The step was found in the cache.
    Cached,
    /// A RUN container was created (` ---> Running in <id12>`).
    Running(&'a str),
    /// It was removed after the step.
    Removed(&'a str),
    /// The step's image (` ---> <id12>`).
    Image(&'a Digest),
    Warning(String),
}

/// Runs a RUN step's container (already created from the intermediate image) to its end,
/// streaming its output, and returns its exit status; then removes it when asked.
pub trait StepRunner {
    fn run(&mut self, store: &mut Store, container: &str) -> Result<i32, Error>;
    fn remove(&mut self, store: &mut Store, container: &str) -> Result<(), Error>;
}

/// Unpacks a context tar (`build -`) into `dir` with the layer applier: entries that would
/// land outside it are refused, as in a layer.
pub fn unpack_context(input: impl std::io::Read, dir: &std::path::Path) -> Result<(), BuildError> {
    use crate::error::IoContext;
    std::fs::create_dir_all(dir).at(dir)?;
    let (_, reader) = crate::layer::decompress(std::io::BufReader::new(input))
        .map_err(|e| BuildError::Invalid(format!("reading the build context: {e}")))?;
    crate::layer::apply_layer(reader, dir)
        .map_err(|e| BuildError::Invalid(format!("reading the build context: {e}")))?;
    Ok(())
}
