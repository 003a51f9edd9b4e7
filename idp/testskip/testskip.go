// Package testskip says, at the end of go test, which groups of tests did
// not run on this machine and why (no PostgreSQL, no Chromium, no
// axe-core): go test prints nothing of a passing package, so a skipped
// group would otherwise look like a pass. Each group is named once per go
// test run, however many packages skip it.
package testskip

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
)

var (
	mu     sync.Mutex
	groups = map[string]string{}
)

// Skip records that group cannot run here, and why, and skips t. In CI
// (the CI variable set) nothing may be skipped: t fails instead.
func Skip(t testing.TB, group, reason string) {
	t.Helper()
	if os.Getenv("CI") != "" {
		t.Fatalf("%s: %s (in CI every group runs)", group, reason)
	}
	mu.Lock()
	groups[group] = reason
	mu.Unlock()
	t.Skipf("%s: %s", group, reason)
}

// Main runs the package's tests, then reports the groups skipped; for
// TestMain: os.Exit(testskip.Main(m)).
func Main(m *testing.M) int {
	code := m.Run()
	Report()
	return code
}

// Report prints a line per group skipped that no other package of this
// go test run reported yet: on the terminal when there is one (go test
// keeps a passing package's output to itself), else on standard error.
func Report() {
	mu.Lock()
	names := make([]string, 0, len(groups))
	for g := range groups {
		names = append(names, g)
	}
	mu.Unlock()
	sort.Strings(names)
	var out *os.File
	for _, g := range names {
		// The packages of one go test run share its process as parent: a
		// marker per group makes the first reporter the only one.
		marker := filepath.Join(os.TempDir(), fmt.Sprintf("idp-testskip-%d-%s", os.Getppid(), strings.Map(safe, g)))
		f, err := os.OpenFile(marker, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
		if err != nil {
			continue
		}
		f.Close()
		if out == nil {
			out = terminal()
		}
		fmt.Fprintf(out, "SKIPPED %s: %s\n", g, groups[g])
	}
	if out != nil && out != os.Stderr && out.Name() == "/dev/tty" {
		out.Close()
	}
}

// terminal is where the report goes.
var terminal = func() *os.File {
	if tty, err := os.OpenFile("/dev/tty", os.O_WRONLY, 0); err == nil {
		return tty
	}
	return os.Stderr
}

func safe(r rune) rune {
	if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' {
		return r
	}
	return '-'
}
