package server

import (
	"os"
	"strconv"
	"strings"
	"testing"
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

// The binary's start-up pages leave the process, and what runs next maps
// back what it needs.
func TestReleaseStartupPages(t *testing.T) {
	before := rssFile(t)
	releaseStartupPages()
	after := rssFile(t)
	if after >= before/2 {
		t.Fatalf("RssFile %d kB -> %d kB: the binary's pages were not released", before, after)
	}
	if s := strings.Repeat("still runs ", 3); !strings.Contains(s, "runs") {
		t.Fatal("code after the release misbehaves")
	}
}
