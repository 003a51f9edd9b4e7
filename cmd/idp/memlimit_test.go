package main

import (
	"io"
	"net/http"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/communityidp/idp/idp/password"
)

// serve sets the runtime's soft memory limit from the password hashing
// slots, and an operator's GOMEMLIMIT wins; /metrics shows which.
func TestServeMemoryLimit(t *testing.T) {
	bin := buildBinary(t)
	for _, tc := range []struct {
		env  []string
		want int64
	}{
		{nil, password.MemoryLimit()},
		{[]string{"GOMEMLIMIT=96MiB"}, 96 << 20},
	} {
		addr, metricsAddr := freePort(t), freePort(t)
		cmd := exec.Command(bin, "serve")
		cmd.Dir = t.TempDir()
		cmd.Env = append(os.Environ(), append(tc.env, "IDP_CONFIG=", "IDP_LISTEN="+addr,
			"IDP_ISSUER=http://localhost:"+strings.TrimPrefix(addr, "127.0.0.1:"), "IDP_METRICS_LISTEN="+metricsAddr)...)
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		got := readMemoryLimit(t, "http://"+metricsAddr+"/metrics")
		cmd.Process.Kill()
		cmd.Wait()
		if got != tc.want {
			t.Errorf("env %v: go_gc_gomemlimit_bytes = %d, want %d", tc.env, got, tc.want)
		}
	}
}

var memLimitLine = regexp.MustCompile(`(?m)^go_gc_gomemlimit_bytes (\S+)$`)

// readMemoryLimit polls metrics until the provider answers.
func readMemoryLimit(t *testing.T, metrics string) int64 {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		resp, err := http.Get(metrics)
		if err == nil {
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			m := memLimitLine.FindSubmatch(body)
			if m == nil {
				t.Fatalf("no go_gc_gomemlimit_bytes in /metrics:\n%s", body)
			}
			f, err := strconv.ParseFloat(string(m[1]), 64)
			if err != nil {
				t.Fatal(err)
			}
			return int64(f)
		}
		if time.Now().After(deadline) {
			t.Fatalf("metrics did not answer: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
