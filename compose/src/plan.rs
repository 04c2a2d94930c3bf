//! The reconciler's decision for one service: given the containers it has (read from their
//! labels) and what the compose file asks for, which to keep, start, recreate, create or
//! remove. Pure, so every rule is tested here without a kernel.

/// One container of the service as it is now.
#[derive(Debug, Clone, PartialEq)]
pub struct Observed {
    pub id: String,
    pub number: u32,
    /// Its `com.docker.compose.config-hash` label.
    pub hash: String,
    /// The image ID it was created from.
    pub image: String,
    pub running: bool,
}

/// What `up` wants for the service.
#[derive(Debug, Clone, Copy, Default)]
pub struct Desired<'a> {
    pub hash: &'a str,
    /// The image ID the service's image name resolves to now.
    pub image: &'a str,
    pub replicas: u32,
    pub force_recreate: bool,
    pub no_recreate: bool,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    /// Up to date and running: nothing to do.
    Keep { id: String },
    /// Up to date but stopped: start it.
    Start { id: String },
    /// Out of date (or `--force-recreate`): replace it, keeping its number.
    Recreate { id: String, number: u32 },
    /// Missing: make container number `number`.
    Create { number: u32 },
    /// Beyond the scale: stop and remove it.
    Remove { id: String },
}

impl Action {
    /// The container number the action leaves running (none for a removal).
    pub fn number(&self, observed: &[Observed]) -> Option<u32> {
        match self {
            Action::Keep { id } | Action::Start { id } => observed.iter().find(|o| &o.id == id).map(|o| o.number),
            Action::Recreate { number, .. } | Action::Create { number } => Some(*number),
            Action::Remove { .. } => None,
        }
    }
}

/// The actions, in container-number order: the lowest numbers are kept when scaling down, and
/// new containers take the lowest free numbers, as Compose does.
pub fn plan(desired: Desired, observed: &[Observed]) -> Vec<Action> {
    let mut current: Vec<&Observed> = observed.iter().collect();
    current.sort_by_key(|o| (o.number, o.id.clone()));
    let mut actions = Vec::new();
    let mut taken = Vec::new();
    for (i, o) in current.iter().enumerate() {
        // Two containers with one number (a crash mid-recreate): the later one goes.
        let duplicate = taken.contains(&o.number);
        if i as u32 >= desired.replicas || duplicate {
            actions.push(Action::Remove { id: o.id.clone() });
            continue;
        }
        taken.push(o.number);
        let stale = o.hash != desired.hash || (!desired.image.is_empty() && o.image != desired.image);
        actions.push(if desired.force_recreate || (stale && !desired.no_recreate) {
            Action::Recreate { id: o.id.clone(), number: o.number }
        } else if o.running {
            Action::Keep { id: o.id.clone() }
        } else {
            Action::Start { id: o.id.clone() }
        });
    }
    let mut number = 1;
    while (taken.len() as u32) < desired.replicas {
        if !taken.contains(&number) {
            taken.push(number);
            actions.push(Action::Create { number });
        }
        number += 1;
    }
    actions
}

#[cfg(test)]
mod tests {
    use super::*;

    fn c(id: &str, number: u32, hash: &str, running: bool) -> Observed {
        Observed { id: id.into(), number, hash: hash.into(), image: "img".into(), running }
    }

    fn want(replicas: u32) -> Desired<'static> {
        Desired { hash: "h1", image: "img", replicas, ..Default::default() }
    }

    #[test]
    fn nothing_changed_touches_nothing() {
        let observed = [c("a", 1, "h1", true)];
        assert_eq!(plan(want(1), &observed), vec![Action::Keep { id: "a".into() }]);
    }

    #[test]
    fn missing_containers_are_created_stopped_ones_started() {
        assert_eq!(plan(want(1), &[]), vec![Action::Create { number: 1 }]);
        let observed = [c("a", 1, "h1", false)];
        assert_eq!(plan(want(1), &observed), vec![Action::Start { id: "a".into() }]);
    }

    #[test]
    fn changed_config_or_image_recreates() {
        let observed = [c("a", 1, "old", true)];
        assert_eq!(plan(want(1), &observed), vec![Action::Recreate { id: "a".into(), number: 1 }]);
        let mut other_image = c("a", 1, "h1", true);
        other_image.image = "new".into();
        assert_eq!(plan(want(1), &[other_image.clone()]), vec![Action::Recreate { id: "a".into(), number: 1 }]);
        let no = Desired { no_recreate: true, ..want(1) };
        assert_eq!(plan(no, &[other_image]), vec![Action::Keep { id: "a".into() }]);
        let force = Desired { force_recreate: true, ..want(1) };
        assert_eq!(plan(force, &[c("a", 1, "h1", true)]), vec![Action::Recreate { id: "a".into(), number: 1 }]);
    }

    #[test]
    fn scaling_keeps_low_numbers_and_fills_gaps() {
        let observed = [c("b", 2, "h1", true), c("a", 1, "h1", true), c("c", 3, "h1", true)];
        assert_eq!(
            plan(want(1), &observed),
            vec![Action::Keep { id: "a".into() }, Action::Remove { id: "b".into() }, Action::Remove { id: "c".into() }]
        );
        let observed = [c("b", 2, "h1", true)];
        assert_eq!(
            plan(want(3), &observed),
            vec![Action::Keep { id: "b".into() }, Action::Create { number: 1 }, Action::Create { number: 3 }]
        );
    }

    #[test]
    fn a_duplicate_number_is_removed() {
        let observed = [c("a", 1, "h1", true), c("b", 1, "h1", true)];
        assert_eq!(
            plan(want(2), &observed),
            vec![Action::Keep { id: "a".into() }, Action::Remove { id: "b".into() }, Action::Create { number: 2 }]
        );
    }
}
