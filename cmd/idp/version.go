package main

import (
	"context"
	"fmt"
	"runtime"
	"runtime/debug"
)

// Set at build time where the source tree's VCS information is not
// available (the Docker build copies no .git):
//
//	go build -ldflags "-X main.version=1.4.0 -X main.revision=$(git rev-parse HEAD) \
//	  -X main.revisionTime=$(git log -1 --format=%cI)" ./cmd/idp
//
// Each one, when set, wins over what the Go toolchain recorded.
var (
	version      string
	revision     string
	revisionTime string
)

// buildDetails is what `idp version` prints.
type buildDetails struct {
	Version, GoVersion, Platform string
	Revision, RevisionTime       string
	Modified                     bool
}

// describeBuild combines the -X overrides with the build information the
// Go toolchain embeds (module version, vcs.revision, vcs.time,
// vcs.modified); info may be nil when the binary carries none.
func describeBuild(info *debug.BuildInfo, ok bool) buildDetails {
	d := buildDetails{Version: "devel", GoVersion: runtime.Version(), Platform: runtime.GOOS + "/" + runtime.GOARCH,
		Revision: "unknown", RevisionTime: "unknown"}
	if ok && info != nil {
		if info.GoVersion != "" {
			d.GoVersion = info.GoVersion
		}
		if v := info.Main.Version; v != "" && v != "(devel)" {
			d.Version = v // go install github.com/communityidp/idp/cmd/idp@v1.4.0
		}
		for _, s := range info.Settings {
			switch s.Key {
			case "vcs.revision":
				d.Revision = s.Value
			case "vcs.time":
				d.RevisionTime = s.Value
			case "vcs.modified":
				d.Modified = s.Value == "true"
			}
		}
	}
	if version != "" {
		d.Version = version
	}
	if revision != "" {
		d.Revision, d.Modified = revision, false
	}
	if revisionTime != "" {
		d.RevisionTime = revisionTime
	}
	return d
}

func versionCmd(ctx context.Context, c *cli, args []string) error {
	fs := c.flags("version")
	if err := c.parse(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usageError{fmt.Sprintf("unexpected argument %q: idp version takes none", fs.Arg(0))}
	}
	d := describeBuild(debug.ReadBuildInfo())
	rev := d.Revision
	if d.Modified {
		rev += " (built with uncommitted changes)"
	}
	fmt.Fprintf(c.stdout, "idp %s\ngo: %s %s\nrevision: %s\nrevision time: %s\n", d.Version, d.GoVersion, d.Platform, rev, d.RevisionTime)
	return nil
}
