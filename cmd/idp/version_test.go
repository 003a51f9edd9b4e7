package main

import (
	"os"
	"os/exec"
	"regexp"
	"runtime"
	"runtime/debug"
	"strings"
	"testing"
)

func TestVersion(t *testing.T) {
	code, out, errs := runCLI(t, nil, "", "version")
	if code != 0 || errs != "" {
		t.Fatalf("idp version: exit %d, stderr %q", code, errs)
	}
	lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
	if len(lines) != 4 || !strings.HasPrefix(lines[0], "idp ") || !strings.HasPrefix(lines[1], "go: "+runtime.Version()+" ") ||
		!strings.HasPrefix(lines[2], "revision: ") || !strings.HasPrefix(lines[3], "revision time: ") {
		t.Fatalf("idp version printed:\n%s", out)
	}

	// The -ldflags -X values win over the toolchain's.
	defer func(v, r, rt string) { version, revision, revisionTime = v, r, rt }(version, revision, revisionTime)
	version, revision, revisionTime = "1.4.0", "0123456789abcdef0123456789abcdef01234567", "2026-11-01T10:00:00Z"
	_, out, _ = runCLI(t, nil, "", "version")
	want := "idp 1.4.0\ngo: " + runtime.Version() + " " + runtime.GOOS + "/" + runtime.GOARCH +
		"\nrevision: 0123456789abcdef0123456789abcdef01234567\nrevision time: 2026-11-01T10:00:00Z\n"
	if out != want {
		t.Fatalf("with overrides:\n%s\nwant:\n%s", out, want)
	}

	if code, _, errs := runCLI(t, nil, "", "version", "extra"); code != 2 || !strings.Contains(errs, "takes none") {
		t.Fatalf("idp version extra: exit %d %q", code, errs)
	}
	if code, _, _ := runCLI(t, nil, "", "version", "-h"); code != 0 {
		t.Fatalf("idp version -h: exit %d", code)
	}
	if _, out, _ := runCLI(t, nil, "", "help"); !strings.Contains(out, "version") {
		t.Fatalf("help does not list version:\n%s", out)
	}
}

func TestDescribeBuild(t *testing.T) {
	info := &debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Path: "github.com/communityidp/idp", Version: "(devel)"},
		Settings: []debug.BuildSetting{
			{Key: "-trimpath", Value: "true"},
			{Key: "vcs", Value: "git"},
			{Key: "vcs.revision", Value: "3f2a9c0e1b7d4a6f8e2c5b9d0a1f3e7c6b4d2a8f"},
			{Key: "vcs.time", Value: "2026-10-30T08:15:00Z"},
			{Key: "vcs.modified", Value: "true"},
		}}
	d := describeBuild(info, true)
	if d.Version != "devel" || d.GoVersion != "go1.26.8" || d.Revision != "3f2a9c0e1b7d4a6f8e2c5b9d0a1f3e7c6b4d2a8f" ||
		d.RevisionTime != "2026-10-30T08:15:00Z" || !d.Modified {
		t.Fatalf("from VCS settings: %+v", d)
	}
	info.Main.Version = "v1.4.0" // go install ...@v1.4.0
	if d := describeBuild(info, true); d.Version != "v1.4.0" {
		t.Fatalf("module version: %+v", d)
	}
	if d := describeBuild(nil, false); d.Version != "devel" || d.Revision != "unknown" || d.RevisionTime != "unknown" || d.GoVersion != runtime.Version() {
		t.Fatalf("without build info: %+v", d)
	}
}

// The real binary: -X main.version (as the Dockerfile passes it) reaches
// the output, and a build from the git checkout records its revision
// (-buildvcs=auto: GOFLAGS may turn stamping off).
func TestVersionBinary(t *testing.T) {
	out, err := exec.Command(buildBinary(t), "version").CombinedOutput()
	if err != nil {
		t.Fatalf("idp version: %v\n%s", err, out)
	}
	if !strings.HasPrefix(string(out), "idp 9.9.9-test\ngo: go") {
		t.Fatalf("idp version printed:\n%s", out)
	}
	if _, err := exec.LookPath("git"); err != nil {
		t.Log("no git: the revision is not checked")
		return
	}
	if fi, err := os.Stat("../../.git"); err != nil || !fi.IsDir() {
		// A linked worktree's .git is a file, and Go does not stamp those.
		t.Log("not a git clone: the revision is not checked")
		return
	}
	if !regexp.MustCompile(`(?m)^revision: [0-9a-f]{40}( \(built with uncommitted changes\))?$`).Match(out) ||
		!regexp.MustCompile(`(?m)^revision time: \d{4}-\d\d-\d\dT`).Match(out) {
		t.Fatalf("no VCS revision in:\n%s", out)
	}
}
