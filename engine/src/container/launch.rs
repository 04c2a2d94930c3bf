//! The runtime behind the monitor: translates a container's record into the runtime's spec.
//! (Temporary: wired to the libcontainer runtime when engine/src/runtime lands.)

use std::path::Path;

use super::model::Record;
use crate::monitor::{ExecProcess, Launcher};

pub struct RuntimeLauncher {}

impl RuntimeLauncher {
    pub fn new(_runroot: &Path) -> RuntimeLauncher {
        RuntimeLauncher {}
    }
}

impl Launcher for RuntimeLauncher {
    fn start(&mut self, _record: &Record, _rootfs: &Path, _etc: &Path) -> Result<i32, (i32, String)> {
        Err((125, "no runtime yet".into()))
    }

    fn delete(&mut self, _record: &Record) {}

    fn exec(&mut self, _record: &Record, _process: &ExecProcess) -> Result<i32, (i32, String)> {
        Err((125, "no runtime yet".into()))
    }
}
