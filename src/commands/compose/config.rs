//! `berth compose config`: the normalized project, or parts of it.

use std::io::Write;

use clap::Args;

use super::{load_options, print_warnings, ComposeArgs};

#[derive(Args, Debug)]
pub struct ConfigArgs {
    /// Format the output: yaml or json
    #[arg(long, default_value = "yaml", value_parser = ["yaml", "json"])]
    pub format: String,
    /// Only validate the configuration, don't print anything
    #[arg(short = 'q', long)]
    pub quiet: bool,
    /// Print the service names, one per line
    #[arg(long)]
    pub services: bool,
    /// Print the volume names, one per line
    #[arg(long)]
    pub volumes: bool,
    /// Print the profile names, one per line
    #[arg(long)]
    pub profiles: bool,
    /// Print the image names, one per line
    #[arg(long)]
    pub images: bool,
    /// Print the service config hash, one per line ("*" for all services)
    #[arg(long, value_name = "SERVICES")]
    pub hash: Option<String>,
    /// Don't interpolate environment variables
    #[arg(long)]
    pub no_interpolate: bool,
    /// Save to file (default to stdout)
    #[arg(short = 'o', long, value_name = "FILE")]
    pub output: Option<std::path::PathBuf>,
    /// Services to print (and enable, whatever their profiles)
    pub service_names: Vec<String>,
}

pub fn run(global: &ComposeArgs, args: &ConfigArgs) -> anyhow::Result<i32> {
    let mut opts = load_options(global);
    opts.interpolate = !args.no_interpolate;
    opts.services = args.service_names.clone();
    let mut project = match compose::load(&opts) {
        Ok(p) => p,
        Err(e) => {
            eprintln!("{e}");
            return Ok(1);
        }
    };
    print_warnings(&project.warnings);
    if args.quiet {
        return Ok(0);
    }
    if !args.service_names.is_empty() {
        project.services.retain(|name, _| args.service_names.contains(name));
    }
    let text = if args.services {
        lines(project.services.keys().cloned())
    } else if args.volumes {
        lines(project.volumes.keys().cloned())
    } else if args.profiles {
        lines(compose::profiles::all(project.services.values().chain(project.disabled_services.values())))
    } else if args.images {
        lines(
            project
                .services
                .iter()
                .map(|(name, s)| s.image.clone().unwrap_or_else(|| format!("{}-{name}", project.name))),
        )
    } else if let Some(which) = &args.hash {
        let wanted: Vec<&str> = which.split(',').map(str::trim).collect();
        let mut out = String::new();
        for (name, s) in &project.services {
            if wanted.contains(&"*") || wanted.contains(&name.as_str()) {
                out.push_str(&format!("{name} {}\n", compose::hash::service_hash(s)));
            }
        }
        out
    } else if args.format == "json" {
        compose::emit::json(&project, !args.no_interpolate)
    } else {
        compose::emit::yaml(&project, !args.no_interpolate)
    };
    match &args.output {
        Some(path) => std::fs::write(path, text)?,
        None => std::io::stdout().write_all(text.as_bytes())?,
    }
    Ok(0)
}

fn lines(items: impl IntoIterator<Item = String>) -> String {
    items.into_iter().map(|s| s + "\n").collect()
}
