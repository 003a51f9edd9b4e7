package testskip

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// A skipped group is reported once, with its reason, however many
// packages of the run report it.
func TestReportOncePerRun(t *testing.T) {
	t.Setenv("CI", "")
	t.Run("skipped", func(t *testing.T) { Skip(t, "Example group", "install the example") })
	out := filepath.Join(t.TempDir(), "report")
	f, err := os.Create(out)
	if err != nil {
		t.Fatal(err)
	}
	terminal = func() *os.File { return f }
	t.Cleanup(func() {
		os.Remove(filepath.Join(os.TempDir(), "idp-testskip-"+strconv.Itoa(os.Getppid())+"-Example-group"))
	})
	Report()
	Report() // a second package of the same run
	f.Close()
	got, _ := os.ReadFile(out)
	if string(got) != "SKIPPED Example group: install the example\n" {
		t.Errorf("report: %q", got)
	}
}

// In CI a group that cannot run fails instead.
func TestFailsInCI(t *testing.T) {
	t.Setenv("CI", "true")
	ft := &fakeT{TB: t}
	func() {
		defer func() { recover() }()
		Skip(ft, "Example", "reason")
	}()
	if !strings.Contains(ft.fatal, "in CI every group runs") {
		t.Errorf("in CI: %q", ft.fatal)
	}
}

type fakeT struct {
	testing.TB
	fatal string
}

func (f *fakeT) Helper() {}
func (f *fakeT) Fatalf(format string, args ...any) {
	f.fatal = format
	panic("fatal")
}
