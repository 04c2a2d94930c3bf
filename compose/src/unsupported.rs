//! Fields berth accepts but cannot honour on a single host: each is a warning, not silence.

use crate::model::Project;

pub fn warnings(p: &Project) -> Vec<String> {
    let mut out = Vec::new();
    for (name, s) in &p.services {
        let mut flag = |set: bool, field: &str| {
            if set {
                out.push(format!("services.{name}.{field}: not supported by berth, ignored"));
            }
        };
        flag(s.blkio_config.is_some(), "blkio_config");
        flag(s.credential_spec.is_some(), "credential_spec");
        flag(s.gpus.is_some(), "gpus");
        flag(s.isolation.is_some(), "isolation");
        flag(s.provider.is_some(), "provider");
        flag(s.models.is_some(), "models");
        flag(s.runtime.is_some(), "runtime");
        flag(s.cpu_count.is_some(), "cpu_count");
        flag(s.cpu_percent.is_some(), "cpu_percent");
        flag(s.cpu_rt_period.is_some() || s.cpu_rt_runtime.is_some(), "cpu_rt_period/cpu_rt_runtime");
        flag(s.volume_driver.is_some(), "volume_driver");
        flag(!s.storage_opt.is_empty(), "storage_opt");
        flag(s.use_api_socket, "use_api_socket");
        flag(
            s.platform.as_deref().is_some_and(|pl| !pl.starts_with("linux/amd64") && !pl.starts_with("linux/x86_64")),
            "platform",
        );
        if let Some(d) = &s.deploy {
            flag(d.placement.is_some(), "deploy.placement");
            flag(d.update_config.is_some(), "deploy.update_config");
            flag(d.rollback_config.is_some(), "deploy.rollback_config");
            flag(d.mode.as_deref().is_some_and(|m| m != "replicated"), "deploy.mode");
            flag(
                d.resources.as_ref().and_then(|r| r.reservations.as_ref()).and_then(|r| r.devices.as_ref()).is_some(),
                "deploy.resources.reservations.devices",
            );
        }
    }
    out
}
