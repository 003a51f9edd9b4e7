package main

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
)

// Requests go to each replica in turn, with the client's Host.
func TestRoundRobin(t *testing.T) {
	var mu sync.Mutex
	var hosts []string
	replica := func(name string) *httptest.Server {
		return httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			mu.Lock()
			hosts = append(hosts, r.Host)
			mu.Unlock()
			io.WriteString(w, name)
		}))
	}
	a, b := replica("a"), replica("b")
	defer a.Close()
	defer b.Close()
	backends, err := parseBackends(a.URL + ", " + b.URL)
	if err != nil {
		t.Fatal(err)
	}
	front := httptest.NewServer(newProxy(backends))
	defer front.Close()
	var got []string
	for range 4 {
		req, _ := http.NewRequest(http.MethodGet, front.URL+"/x", nil)
		req.Host = "idp.example"
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		got = append(got, string(body))
	}
	if strings.Join(got, "") != "abab" {
		t.Errorf("answered by %v, want a, b, a, b", got)
	}
	mu.Lock()
	defer mu.Unlock()
	for _, h := range hosts {
		if h != "idp.example" {
			t.Errorf("replica saw Host %q", h)
		}
	}
	if _, err := parseBackends(" , "); err == nil {
		t.Error("no replica accepted")
	}
	if _, err := parseBackends("127.0.0.1:1"); err == nil {
		t.Error("a base URL without scheme accepted")
	}
}
