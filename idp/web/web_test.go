package web

import "testing"

func TestLocalPath(t *testing.T) {
	for in, want := range map[string]string{
		"/settings":              "/settings",
		"/settings?x=1":          "/settings?x=1",
		"":                       "/f",
		"settings":               "/f",
		"//evil.example/":        "/f",
		"/\\evil.example":        "/f",
		"https://evil.example/":  "/f",
		"javascript:alert(1)":    "/f",
		"/ok\r\nSet-Cookie: x=y": "/f",
		"/a\\b":                  "/f",
	} {
		if got := LocalPath(in, "/f"); got != want {
			t.Errorf("LocalPath(%q) = %q, want %q", in, got, want)
		}
	}
}
