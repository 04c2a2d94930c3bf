use std::fs;
use std::path::Path;

use nix::unistd::Pid;

use crate::common::{self, CGROUP_PROCS, ControllerOpt, WrapIoResult, WrappedIoError};

pub(super) trait Controller {
    type Error: From<WrappedIoError>;
    type Resource;

    /// Adds a new task specified by its pid to the cgroup
    ///
    /// berth's patch: the directory is made only when the write finds it missing. berth makes
    /// the cgroups ahead, and the `mkdir` that failed with EEXIST, then the `statx` that
    /// checked the directory, cost two syscalls per controller in every start's intermediate
    /// process.
    fn add_task(pid: Pid, cgroup_path: &Path) -> Result<(), Self::Error> {
        match write_pid(cgroup_path, pid) {
            Err(e) if e.inner().kind() == std::io::ErrorKind::NotFound => {
                fs::create_dir_all(cgroup_path).wrap_create_dir(cgroup_path)?;
                write_pid(cgroup_path, pid)?;
            }
            written => written?,
        }
        Ok(())
    }

    /// Applies resource restrictions to the cgroup
    fn apply(controller_opt: &ControllerOpt, cgroup_root: &Path) -> Result<(), Self::Error>;

    /// Checks if the controller needs to handle this request
    fn needs_to_handle<'a>(controller_opt: &'a ControllerOpt) -> Option<&'a Self::Resource>;
}

/// berth's patch: moves `pid` into the cgroup. A single-threaded process that moves itself
/// (the runtime's intermediate process does) writes "0" to `tasks`: the kernel then moves the
/// calling thread without taking its global cgroup_threadgroup_rwsem for writing, which first
/// waits for an RCU grace period (~10 ms) unless someone wrote `cgroup.procs` very recently.
pub(super) fn write_pid(cgroup_path: &Path, pid: Pid) -> Result<(), WrappedIoError> {
    if pid.as_raw() as u32 == std::process::id() && single_threaded() {
        return common::write_cgroup_file(cgroup_path.join("tasks"), 0);
    }
    common::write_cgroup_file(cgroup_path.join(CGROUP_PROCS), pid)
}

/// procfs counts a process's threads in the link count of its `task` directory (2 + threads):
/// one statx, where reading `/proc/self/status` took eleven syscalls per controller.
fn single_threaded() -> bool {
    use std::os::unix::fs::MetadataExt;
    fs::metadata("/proc/self/task").is_ok_and(|m| m.nlink() == 3)
}
