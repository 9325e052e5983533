//! Listing a source's landing files: the objects under its glob's
//! literal prefix that match it, in path order. A local landing folder is
//! walked here rather than listed by object_store, whose local store
//! follows every symbolic link and ends its listing at the first entry it
//! cannot list.

use futures::TryStreamExt;
use globset::GlobMatcher;
use object_store::{ObjectMeta, ObjectStoreExt};

use crate::config::SourceConfig;
use crate::storage::Location;

/// A source's landing files: those to load, and those that cannot be
/// (a symbolic link not to follow, a name the store cannot list), each with
/// the reason; one bad file is that file's failure, not its source's.
#[derive(Debug, Default)]
pub struct Listing {
    pub files: Vec<ObjectMeta>,
    /// (path, or the listing's words for it when it has none; why)
    pub refused: Vec<(String, String)>,
}

/// Lists landing objects under the glob's literal prefix and keeps those
/// that match it, in path order so loads are deterministic.
pub async fn list_matching(landing: &Location, source: &SourceConfig) -> Result<Listing, String> {
    let pattern = source.path.as_str();
    let matcher: GlobMatcher = globset::GlobBuilder::new(pattern)
        .literal_separator(true)
        .build()
        .map_err(|e| format!("path {pattern:?} is not a valid glob: {e}"))?
        .compile_matcher();
    let literal_end = pattern.find(['*', '?', '[', '{']).unwrap_or(pattern.len());
    let folder = pattern[..literal_end]
        .rsplit_once('/')
        .map_or("", |(dir, _)| dir);
    let mut listing = match local_root(landing) {
        Some(root) => list_local(landing, &root, folder, &matcher, source.follow_symlinks).await,
        None => {
            let prefix = landing.path(folder);
            let files: Vec<ObjectMeta> = landing
                .store
                .list(Some(&prefix))
                .try_collect()
                .await
                .map_err(|e| format!("cannot list {}{folder}: {e}", landing.url))?;
            let files = files
                .into_iter()
                .filter(|m| matcher.is_match(landing.relative(&m.location)))
                .collect();
            Listing {
                files,
                refused: Vec::new(),
            }
        }
    };
    listing.files.sort_by(|a, b| a.location.cmp(&b.location));
    Ok(listing)
}

/// A local landing folder, walked entry by entry. object_store's local
/// store follows every symbolic link and ends its listing at the first
/// entry it cannot list (a name that is not UTF-8, a link loop), so the
/// folder is walked here, links followed only under `follow_symlinks` and
/// never out of the folder, and each file's metadata (its e-tag above all,
/// which the manifest compares) comes from the store's own `head`.
async fn list_local(
    landing: &Location,
    root: &std::path::Path,
    folder: &str,
    matcher: &GlobMatcher,
    follow: bool,
) -> Listing {
    let start = root.join(folder);
    let mut listing = Listing::default();
    if !start.exists() {
        return listing;
    }
    let walk = walkdir::WalkDir::new(&start)
        .min_depth(1)
        .follow_links(follow);
    let mut paths = Vec::new();
    for entry in walk {
        let relative_of = |path: &std::path::Path| {
            path.strip_prefix(root)
                .unwrap_or(path)
                .to_string_lossy()
                .into_owned()
        };
        match entry {
            Ok(entry) if entry.path().is_dir() => {
                if entry.path_is_symlink() && !follow {
                    tracing::warn!(
                        folder = %relative_of(entry.path()),
                        "a linked folder in the landing is not followed (a source's \
                         follow_symlinks: true follows links inside the landing folder)"
                    );
                }
            }
            Ok(entry) => {
                let lossy = relative_of(entry.path());
                if !matcher.is_match(&lossy) {
                    continue;
                }
                match entry
                    .path()
                    .strip_prefix(root)
                    .ok()
                    .and_then(|r| r.to_str())
                {
                    Some(relative) => paths.push(relative.to_string()),
                    None => listing
                        .refused
                        .push((lossy, "has a name that is not UTF-8".into())),
                }
            }
            Err(e) => {
                let lossy = e.path().map(relative_of).unwrap_or_default();
                if lossy.is_empty() || matcher.is_match(&lossy) {
                    listing.refused.push((lossy, format!("cannot list: {e}")));
                }
            }
        }
    }
    for relative in paths {
        // object_store escapes control characters in a path, so it would
        // look for another file than the one listed.
        if relative.chars().any(char::is_control) {
            let why = "has a control character (a newline, a tab) in its name, which the \
                       object store cannot address: rename the file";
            listing
                .refused
                .push((relative.escape_debug().to_string(), why.into()));
            continue;
        }
        if let Some(why) = refuse_link(root, &relative, follow) {
            listing.refused.push((relative, why));
            continue;
        }
        match landing.store.head(&landing.path(&relative)).await {
            Ok(meta) => listing.files.push(meta),
            Err(e) => listing
                .refused
                .push((relative, format!("cannot list: {e}"))),
        }
    }
    listing
}

/// The landing folder, when the landing is one.
fn local_root(landing: &Location) -> Option<std::path::PathBuf> {
    (landing.url.scheme() == "file")
        .then(|| landing.url.to_file_path().ok())
        .flatten()
}

/// Why a listed file must not be read: reached through a symbolic link
/// (unless `follow`), or, followed, leading out of the landing folder.
fn refuse_link(root: &std::path::Path, relative: &str, follow: bool) -> Option<String> {
    let mut path = root.to_path_buf();
    let mut linked = false;
    for part in relative.split('/') {
        path.push(part);
        linked |= std::fs::symlink_metadata(&path).is_ok_and(|m| m.file_type().is_symlink());
    }
    if !linked {
        return None;
    }
    if !follow {
        return Some(
            "is reached through a symbolic link, which is not followed (set \
             `follow_symlinks: true` on the source to load links inside the landing folder)"
                .into(),
        );
    }
    let inside = match (path.canonicalize(), root.canonicalize()) {
        (Ok(target), Ok(root)) => target.starts_with(root),
        _ => false,
    };
    (!inside)
        .then(|| "is a symbolic link out of the landing folder, which is never followed".into())
}
