//! Random container names in Docker's style, `adjective_surname`, from our own word lists.

const ADJECTIVES: &[&str] = &[
    "agile", "amazing", "bold", "brave", "bright", "calm", "clever", "cool", "curious", "daring", "eager", "elegant",
    "epic", "fervent", "focused", "gallant", "gentle", "happy", "hopeful", "humble", "jolly", "keen", "kind", "lucid",
    "merry", "modest", "nimble", "noble", "patient", "peaceful", "quirky", "quiet", "relaxed", "serene", "sharp",
    "stoic", "sunny", "swift", "tender", "upbeat", "vibrant", "vigilant", "wise", "witty", "zealous", "zen",
];

const SURNAMES: &[&str] = &[
    "agnesi",
    "babbage",
    "bardeen",
    "bohr",
    "boole",
    "cantor",
    "carson",
    "curie",
    "darwin",
    "dijkstra",
    "einstein",
    "euler",
    "faraday",
    "fermat",
    "fermi",
    "feynman",
    "gauss",
    "goodall",
    "hamilton",
    "hawking",
    "hopper",
    "hypatia",
    "kepler",
    "knuth",
    "lamarr",
    "lamport",
    "leakey",
    "liskov",
    "lovelace",
    "maxwell",
    "meitner",
    "mendel",
    "noether",
    "pascal",
    "pasteur",
    "planck",
    "ramanujan",
    "ritchie",
    "sammet",
    "shannon",
    "tesla",
    "thompson",
    "torvalds",
    "turing",
    "wing",
    "wozniak",
    "yalow",
];

/// A fresh random name; the caller retries when it is taken.
pub fn random_name() -> String {
    let a = ADJECTIVES[rand::random_range(0..ADJECTIVES.len())];
    let s = SURNAMES[rand::random_range(0..SURNAMES.len())];
    format!("{a}_{s}")
}

/// Docker's rule for `--name`: `[a-zA-Z0-9][a-zA-Z0-9_.-]+`.
pub fn valid_name(name: &str) -> bool {
    let b = name.as_bytes();
    b.len() >= 2
        && b[0].is_ascii_alphanumeric()
        && b[1..].iter().all(|c| c.is_ascii_alphanumeric() || matches!(c, b'_' | b'.' | b'-'))
}

/// A fresh 64-hex container ID.
pub fn random_id() -> String {
    let bytes: [u8; 32] = rand::random();
    hex::encode(bytes)
}
