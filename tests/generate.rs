//! `advocacy generate`: the same bytes for the same options whatever the
//! number of threads, bad rows in every file, the profiles' volumes,
//! planted advocates of every persona, and writing to an S3 URL.

use crate::common;

use std::path::Path;

use crate::common::{Project, S3Server, assert_exit};
use advocacy::generate::{GenerateOptions, GenerateSummary, Persona, Profile, generate};

fn options(out: &Path, customers: usize) -> GenerateOptions {
    GenerateOptions {
        customers,
        seed: 7,
        ..GenerateOptions::new(out.to_string_lossy())
    }
}

fn all_bytes(dir: &Path, summary: &GenerateSummary) -> Vec<(String, Vec<u8>)> {
    let mut paths: Vec<String> = summary.files.iter().map(|f| f.path.clone()).collect();
    paths.push("README.md".into());
    paths
        .into_iter()
        .map(|p| {
            let bytes = std::fs::read(dir.join(&p)).unwrap();
            (p, bytes)
        })
        .collect()
}

#[test]
fn the_same_options_give_the_same_bytes_whatever_the_threads() {
    let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    // Three blocks of customers, simulated in parallel in one run and one
    // after the other in the second.
    let sa = generate(&options(a.path(), 5000)).unwrap();
    let one_thread = rayon::ThreadPoolBuilder::new()
        .num_threads(1)
        .build()
        .unwrap();
    let sb = one_thread
        .install(|| generate(&options(b.path(), 5000)))
        .unwrap();
    assert_eq!(sa, sb);
    let (fa, fb) = (all_bytes(a.path(), &sa), all_bytes(b.path(), &sb));
    for ((path, x), (_, y)) in fa.iter().zip(&fb) {
        // The README's regenerate command names the (temporary) folder.
        let without_out = |b: &[u8]| {
            String::from_utf8_lossy(b)
                .lines()
                .filter(|l| !l.starts_with("advocacy generate --out"))
                .collect::<Vec<_>>()
                .join("\n")
        };
        assert!(
            without_out(x) == without_out(y),
            "{path} differs between 2 threads and 1"
        );
    }
}

#[test]
fn every_file_has_a_few_bad_rows_and_customers_look_like_excel() {
    let dir = tempfile::tempdir().unwrap();
    let s = generate(&options(dir.path(), 80)).unwrap();
    assert!(
        s.files.iter().all(|f| (2..=5).contains(&f.bad_rows)),
        "{:?}",
        s.files
    );
    let customers = std::fs::read(dir.path().join("crm/customers.csv")).unwrap();
    assert!(customers.starts_with("\u{feff}Id,".as_bytes()));
    let crlf = customers.windows(2).filter(|w| w == b"\r\n").count() as u64;
    // Header plus one line per record: 80 customers, a duplicate, 4 bad.
    assert_eq!(s.files[0].rows, 85);
    assert_eq!(crlf, s.files[0].rows + 1);
}

#[test]
fn planted_advocates_of_every_persona_are_customers() {
    let dir = tempfile::tempdir().unwrap();
    let s = generate(&options(dir.path(), 6000)).unwrap();
    let planted = &s.truth.planted_advocates;
    // One in 200, less the few who signed up too late to act.
    assert!((20..=32).contains(&planted.len()), "{}", planted.len());
    for persona in [
        Persona::Educator,
        Persona::StatusSeeker,
        Persona::Validator,
        Persona::Collaborator,
    ] {
        assert!(
            planted.iter().any(|p| p.persona == persona),
            "no planted {persona:?}"
        );
    }
    let customers = std::fs::read_to_string(dir.path().join("crm/customers.csv")).unwrap();
    let readme = std::fs::read_to_string(dir.path().join("README.md")).unwrap();
    for p in planted {
        assert!(customers.contains(&format!("\r\n{},", p.customer_id)));
        assert!(readme.contains(&format!("| `{}` | {} |", p.customer_id, p.persona.name())));
    }
    assert!(
        readme.contains("r = 0.9, alpha = 14, a = 1.2, b = 4"),
        "{readme}"
    );
}

/// Records per customer in the heavy profile: about 20 orders and 10
/// social events (the benchmark's 20 million orders at a million).
#[test]
fn the_heavy_profile_buys_and_posts_about_ten_times_as_much() {
    let dir = tempfile::tempdir().unwrap();
    let s = generate(&GenerateOptions {
        profile: Profile::Heavy,
        bad_rows: false,
        ..options(dir.path(), 4000)
    })
    .unwrap();
    let rows = |path: &str| s.files.iter().find(|f| f.path == path).unwrap().rows as f64;
    let orders = rows("crm/orders.csv") / 4000.0;
    let social =
        (rows("social/x-mentions.jsonl") + rows("social/community-answers.jsonl")) / 4000.0;
    assert!(
        (17.0..=23.0).contains(&orders),
        "{orders} orders per customer"
    );
    assert!(
        (8.0..=12.0).contains(&social),
        "{social} social events per customer"
    );
}

#[test]
fn writes_to_an_s3_url_with_the_configs_storage_options() {
    let server = S3Server::start();
    server.create_bucket("generated");
    let p = Project::new();
    p.write(
        "config.yaml",
        &format!(
            "landing: s3://generated/landing\nwarehouse: s3://generated/warehouse\n\
             storage:\n  s3:\n    endpoint: \"{}\"\n    region: us-east-1\n    allow_http: true\n    \
             access_key_id: test\n    secret_access_key: test\nrun: {{ pii_salt: s, pii_salt_public: true }}\nsources: []\n",
            server.endpoint
        ),
    );
    let out = p.advocacy(&[
        "generate",
        "--out",
        "s3://generated/landing",
        "--customers",
        "300",
        "--config",
        "config.yaml",
    ]);
    assert_exit(&out, 0);

    // The same bytes as a local run with the same options.
    let local = tempfile::tempdir().unwrap();
    let summary = generate(&GenerateOptions {
        seed: 42,
        ..options(local.path(), 300)
    })
    .unwrap();
    let store = object_store::aws::AmazonS3Builder::new()
        .with_bucket_name("generated")
        .with_endpoint(&server.endpoint)
        .with_allow_http(true)
        .with_region("us-east-1")
        .with_access_key_id("test")
        .with_secret_access_key("test")
        .build()
        .unwrap();
    let runtime = tokio::runtime::Runtime::new().unwrap();
    for (path, bytes) in all_bytes(local.path(), &summary) {
        use object_store::ObjectStoreExt;
        let key = object_store::path::Path::from(format!("landing/{path}"));
        let got = runtime
            .block_on(async { store.get(&key).await?.bytes().await })
            .unwrap_or_else(|e| panic!("{path}: {e}"));
        if path == "README.md" {
            // The regenerate command names the destination.
            assert!(
                std::str::from_utf8(&got)
                    .unwrap()
                    .contains("--out s3://generated/landing")
            );
        } else {
            assert!(got.as_ref() == bytes.as_slice(), "{path} differs on S3");
        }
    }
}

/// `advocacy generate --help` states the planted parameters by hand; they
/// must be the ones the generator uses.
#[test]
fn generate_help_states_the_planted_parameters() {
    let p = Project::new();
    let help = common::stdout(&p.advocacy(&["generate", "--help"]));
    for profile in [Profile::Standard, Profile::Heavy] {
        let bg = profile.bg_nbd();
        let stated = format!(
            "{} profile r={} alpha={} a={} b={}",
            profile.name(),
            bg.r,
            bg.alpha,
            bg.a,
            bg.b
        );
        assert!(help.contains(&stated), "{stated}:\n{help}");
        let gg = profile.gamma_gamma();
        let stated = format!("p={} q={} v={}", gg.p, gg.q, gg.v);
        assert!(help.contains(&stated), "{stated}:\n{help}");
    }
}
