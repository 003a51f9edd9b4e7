package main

import (
	"strings"
	"testing"
	"time"
)

// A long export or import says how far it is, every progressEvery.
func TestProgress(t *testing.T) {
	defer func(d time.Duration) { progressEvery = d }(progressEvery)
	var b strings.Builder
	progressEvery = 0
	p := newProgress(&b, "exported", "records")
	for range 3 {
		p.add()
	}
	if got := strings.Count(b.String(), "\n"); got != 3 || !strings.Contains(b.String(), "exported 3 records so far") {
		t.Fatalf("every time: %q", b.String())
	}
	b.Reset()
	progressEvery = time.Hour
	p = newProgress(&b, "read", "records")
	for range 5000 {
		p.add()
	}
	if b.Len() != 0 {
		t.Fatalf("before its time: %q", b.String())
	}
}
