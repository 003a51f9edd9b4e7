package server

import (
	"crypto/sha256"
	"encoding/hex"
	"io/fs"
	"os"
	"strconv"
	"strings"
	"testing"

	"github.com/communityidp/idp/ui"
)

// rssFile is how much of files (the binary, mostly) the process has mapped.
func rssFile(t *testing.T) int {
	t.Helper()
	data, err := os.ReadFile("/proc/self/status")
	if err != nil {
		t.Skip("no /proc/self/status")
	}
	for _, line := range strings.Split(string(data), "\n") {
		if rest, ok := strings.CutPrefix(line, "RssFile:"); ok {
			kb, err := strconv.Atoi(strings.TrimSuffix(strings.TrimSpace(rest), " kB"))
			if err != nil {
				t.Fatalf("RssFile %q: %v", rest, err)
			}
			return kb
		}
	}
	t.Fatal("no RssFile in /proc/self/status")
	return 0
}

// embeddedDigest hashes every file the binary embeds (pages, mail,
// assets, catalogs): read-only data that lives in the pages released.
func embeddedDigest(t *testing.T) string {
	t.Helper()
	h := sha256.New()
	for _, fsys := range []fs.FS{ui.Templates, ui.Mail, ui.Static, ui.Locales} {
		err := fs.WalkDir(fsys, ".", func(path string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() {
				return err
			}
			b, err := fs.ReadFile(fsys, path)
			h.Write([]byte(path))
			h.Write(b)
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	return hex.EncodeToString(h.Sum(nil))
}

// The binary's start-up pages leave the process, and what runs next maps
// back what it needs, unchanged: only read-only mappings of the file are
// dropped, which the kernel reads again from it (a writable one would come
// back as zeros or the file's original bytes).
func TestReleaseStartupPages(t *testing.T) {
	want := embeddedDigest(t)
	before := rssFile(t)
	releaseStartupPages()
	after := rssFile(t)
	if after >= before/2 {
		t.Fatalf("RssFile %d kB -> %d kB: the binary's pages were not released", before, after)
	}
	if got := embeddedDigest(t); got != want {
		t.Fatalf("the embedded files read back differently after the release: sha256 %s, was %s", got, want)
	}
	if back := rssFile(t); back <= after {
		t.Errorf("RssFile %d kB after reading the embedded files, %d kB before: nothing was mapped back", back, after)
	}
}
