//! Stamps the binary with the commit it was built from and the build date, for `--version`.

use std::process::Command;

fn output(cmd: &str, args: &[&str]) -> Option<String> {
    let out = Command::new(cmd).args(args).output().ok()?;
    let s = String::from_utf8(out.stdout).ok()?.trim().to_string();
    (out.status.success() && !s.is_empty()).then_some(s)
}

fn main() {
    let commit = output("git", &["rev-parse", "--short=12", "HEAD"])
        .unwrap_or_else(|| "unknown commit".into());
    let dirty = output("git", &["status", "--porcelain", "--untracked-files=no"]).is_some();
    let date = output("date", &["-u", "+%Y-%m-%d"]).unwrap_or_else(|| "unknown date".into());
    println!(
        "cargo:rustc-env=ASCEND_BUILD={commit}{} {date}",
        if dirty { "-modified" } else { "" }
    );
    println!("cargo:rerun-if-changed=.git/HEAD");
    if let Some(r) = output("git", &["symbolic-ref", "-q", "HEAD"]) {
        println!("cargo:rerun-if-changed=.git/{r}");
    }
}
