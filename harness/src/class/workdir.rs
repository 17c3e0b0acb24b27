//! The work directory of a submission: a copy of what was handed in
//! (regular files only, bounded), owned by the submission's user, and the
//! fingerprint that tells an already graded submission from a changed one.

use super::{
    ClassOptions, Context, Path, PathBuf, PermissionsExt, Result, RunAs, SubmissionResult, bail,
    outputs,
};

/// The files a submission may have at most, and their bytes in all
/// (copied into the work directory; more is refused, with a note).
const MAX_FILES: usize = 2000;
const MAX_BYTES: u64 = 64 << 20;

/// The work directory: given (kept) or temporary (removed).
pub(super) enum WorkRoot {
    Kept(PathBuf),
    Temporary(tempfile::TempDir),
}

impl WorkRoot {
    /// `work` when given (created if missing, kept afterwards), else a
    /// fresh temporary directory removed when this is dropped.
    pub(super) fn new(work: Option<&Path>) -> Result<WorkRoot> {
        Ok(match work {
            Some(work) => {
                std::fs::create_dir_all(work)?;
                WorkRoot::Kept(work.to_path_buf())
            }
            None => WorkRoot::Temporary(
                tempfile::Builder::new()
                    .prefix("harness-class-")
                    .tempdir()
                    .context("creating a work directory")?,
            ),
        })
    }

    pub(super) fn path(&self) -> &Path {
        match self {
            WorkRoot::Kept(p) => p,
            WorkRoot::Temporary(t) => t.path(),
        }
    }
}

/// The settings that change a grade, for the fingerprint.
pub(super) fn settings_of(options: &ClassOptions) -> String {
    format!(
        "tiny={:?} extras={} limits={:?} isolation={:?} timeout={} handout={}",
        options.tiny,
        options.extras,
        options.limits,
        options.isolation,
        options.timeout.as_secs(),
        options
            .handout
            .as_deref()
            .map_or_else(String::new, |h| fingerprint(h, ""))
    )
}

/// A submission's earlier result, if it has one that reads.
pub(super) fn previous(out: &Path) -> Option<SubmissionResult> {
    let text = std::fs::read_to_string(out.join(outputs::RESULT_FILE)).ok()?;
    serde_json::from_str(&text).ok()
}

/// FNV-1a over the settings and every file's path, size and modification
/// time: stable across runs and Rust versions.
pub(super) fn fingerprint(dir: &Path, settings: &str) -> String {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    let mut feed = |bytes: &[u8]| {
        for b in bytes {
            hash ^= u64::from(*b);
            hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
        }
    };
    feed(settings.as_bytes());
    let mut files = Vec::new();
    list_files(dir, dir, &mut files);
    files.sort();
    for (path, size, mtime) in files {
        feed(path.as_bytes());
        feed(&size.to_le_bytes());
        feed(&mtime.to_le_bytes());
    }
    format!("{hash:016x}")
}

pub(super) fn list_files(root: &Path, dir: &Path, into: &mut Vec<(String, u64, u128)>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let Ok(meta) = entry.path().symlink_metadata() else {
            continue;
        };
        if entry.file_name().to_string_lossy().starts_with('.') {
            continue;
        }
        if meta.is_dir() {
            list_files(root, &entry.path(), into);
        } else if meta.is_file() {
            let relative = entry
                .path()
                .strip_prefix(root)
                .map(|p| p.to_string_lossy().into_owned())
                .unwrap_or_default();
            let mtime = meta
                .modified()
                .ok()
                .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
                .map_or(0, |d| d.as_nanos());
            into.push((relative, meta.len(), mtime));
        }
    }
}

/// Copies the regular files and directories of `from` into `to` (fresh),
/// skipping hidden ones, symlinks and anything else; refuses a submission over
/// [`MAX_FILES`] files or [`MAX_BYTES`] bytes. Returns what was skipped.
pub(super) fn copy_submission(from: &Path, to: &Path) -> Result<Vec<String>> {
    if to.exists() {
        std::fs::remove_dir_all(to).with_context(|| format!("removing {}", to.display()))?;
    }
    std::fs::create_dir_all(to)?;
    let mut skipped = Vec::new();
    let (mut files, mut bytes) = (0usize, 0u64);
    let mut stack = vec![(from.to_path_buf(), to.to_path_buf())];
    while let Some((src, dst)) = stack.pop() {
        for entry in std::fs::read_dir(&src)? {
            let entry = entry?;
            // .git and editors' files are no part of a submission (and a
            // repository's history can be large).
            if entry.file_name().to_string_lossy().starts_with('.') {
                continue;
            }
            let meta = entry.path().symlink_metadata()?;
            let target = dst.join(entry.file_name());
            if meta.is_dir() {
                std::fs::create_dir_all(&target)?;
                stack.push((entry.path(), target));
            } else if meta.is_file() {
                files += 1;
                bytes += meta.len();
                if files > MAX_FILES || bytes > MAX_BYTES {
                    bail!(
                        "the submission is too big to grade: more than {MAX_FILES} files or {} MiB",
                        MAX_BYTES >> 20
                    );
                }
                std::fs::copy(entry.path(), &target)?;
                let mode = meta.permissions().mode() & 0o755 | 0o644;
                std::fs::set_permissions(&target, std::fs::Permissions::from_mode(mode))?;
            } else {
                skipped.push(entry.file_name().to_string_lossy().into_owned());
            }
        }
    }
    Ok(skipped)
}

/// Copies into `work` each regular file of `handout` (its top level, not
/// hidden) that `work` lacks: the handout's `Makefile`, `csapp.c` and
/// `csapp.h` that a student need not hand in. Only for a submission with C
/// sources: a prebuilt `./proxy` without a Makefile is graded as it is.
/// Returns the names copied, in order.
pub(super) fn fill_in_handout(handout: &Path, work: &Path) -> Result<Vec<String>> {
    let has_sources = std::fs::read_dir(work)?
        .flatten()
        .any(|e| e.path().extension().is_some_and(|x| x == "c"));
    if !has_sources {
        return Ok(Vec::new());
    }
    let mut names: Vec<(String, PathBuf)> = std::fs::read_dir(handout)
        .with_context(|| format!("reading the handout {}", handout.display()))?
        .flatten()
        .filter(|e| e.path().symlink_metadata().is_ok_and(|m| m.is_file()))
        .map(|e| (e.file_name().to_string_lossy().into_owned(), e.path()))
        .filter(|(name, _)| !name.starts_with('.'))
        .collect();
    names.sort();
    let mut copied = Vec::new();
    for (name, from) in names {
        let to = work.join(&name);
        if to.symlink_metadata().is_err() {
            std::fs::copy(&from, &to).with_context(|| format!("copying the handout's {name}"))?;
            std::fs::set_permissions(&to, std::fs::Permissions::from_mode(0o644))?;
            copied.push(name);
        }
    }
    Ok(copied)
}

/// Gives `dir` and everything in it to `user`, and makes it theirs to
/// write (the build writes there) and nobody else's to read (another
/// submission's user must not read this one's code).
pub(super) fn give_to(dir: &Path, user: RunAs) -> Result<()> {
    let uid = Some(nix::unistd::Uid::from_raw(user.uid));
    let gid = Some(nix::unistd::Gid::from_raw(user.gid));
    let mut stack = vec![dir.to_path_buf()];
    while let Some(path) = stack.pop() {
        nix::unistd::chown(&path, uid, gid).with_context(|| format!("chown {}", path.display()))?;
        if path.symlink_metadata()?.is_dir() {
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755))?;
            for entry in std::fs::read_dir(&path)? {
                stack.push(entry?.path());
            }
        }
    }
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))?;
    Ok(())
}
