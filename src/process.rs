//! Finding programs: the engine starts bash by the path found here, and AWS actions that hand
//! over to a program (`aws ssm start-session`) check it is there first.

use std::path::PathBuf;

/// Where a program is on PATH: the first executable file of that name.
pub fn on_path(program: &str) -> Option<PathBuf> {
    use std::os::unix::fs::PermissionsExt;
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|d| d.join(program))
        .find(|p| {
            p.metadata()
                .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        })
}
