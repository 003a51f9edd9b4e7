package formclient

import (
	"errors"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
)

const signInPage = `<!doctype html><html><head><title>Sign in</title><style>p{}</style></head><body>
<h1>Sign   in</h1><script>var x = "hidden";</script>
<form method="post" action="/login">
<input type="hidden" name="csrf_token" value="tok">
<input type="hidden" name="scope" value="a"><input type="hidden" name="scope" value="b">
<label for="login">Email or
  username</label><input id="login" name="login" value="old">
<button type="submit" name="step" value="continue">Continue</button>
</form>
<form method="post" action="/other"><button>Other</button></form>
</body></html>`

func newServer(t *testing.T) (*httptest.Server, *http.Client, *url.Values) {
	t.Helper()
	posted := &url.Values{}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /start", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "/page", http.StatusFound)
	})
	mux.HandleFunc("GET /page", func(w http.ResponseWriter, r *http.Request) { w.Write([]byte(signInPage)) })
	mux.HandleFunc("POST /login", func(w http.ResponseWriter, r *http.Request) {
		r.ParseForm()
		*posted = r.PostForm
		posted.Set("origin", r.Header.Get("Origin"))
		http.Redirect(w, r, "https://client.example/cb?code=c1", http.StatusSeeOther)
	})
	mux.HandleFunc("GET /loop", func(w http.ResponseWriter, r *http.Request) { http.Redirect(w, r, "/loop", http.StatusFound) })
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	jar, _ := cookiejar.New(nil)
	client := &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	return srv, client, posted
}

// A sign-in as the callers do it: a redirect on the provider followed, the
// form filled by its label, sent with its hidden inputs and the button's
// value, and the redirect to the client returned, not followed.
func TestNavigateFillSubmit(t *testing.T) {
	srv, client, posted := newServer(t)
	req, _ := http.NewRequest(http.MethodGet, srv.URL+"/start", nil)
	p, err := Navigate(client, srv.URL, req)
	if err != nil {
		t.Fatal(err)
	}
	if p.URL.Path != "/page" || p.Status != 200 || p.Away != nil {
		t.Fatalf("landed at %s %d away=%v", p.URL, p.Status, p.Away)
	}
	if got := p.Text(); got != "Sign in Email or username Continue Other" {
		t.Errorf("Text() = %q", got)
	}
	if p.Input("csrf_token") != "tok" || p.Input("nope") != "" {
		t.Errorf("Input: %q %q", p.Input("csrf_token"), p.Input("nope"))
	}
	if p.FormWithAction("/other") == nil || p.FormWithAction("/missing") != nil {
		t.Error("FormWithAction")
	}
	if _, _, err := p.Fill("Sign in", nil); err == nil || !strings.Contains(err.Error(), `"Sign in" button`) {
		t.Errorf("missing button: %v", err)
	}
	if _, _, err := p.Fill("Continue", map[string]string{"Password": "x"}); err == nil || !strings.Contains(err.Error(), `"Password"`) {
		t.Errorf("missing field: %v", err)
	}
	form, values, err := p.Fill("Continue", map[string]string{"Email or username": "alice"})
	if err != nil {
		t.Fatal(err)
	}
	req, err = FormRequest(p, form, values, srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	p, err = Navigate(client, srv.URL, req)
	if err != nil {
		t.Fatal(err)
	}
	if p.Away == nil || p.Away.String() != "https://client.example/cb?code=c1" || p.Status != http.StatusSeeOther {
		t.Fatalf("away = %v (%d)", p.Away, p.Status)
	}
	want := url.Values{"csrf_token": {"tok"}, "scope": {"a", "b"}, "login": {"alice"}, "step": {"continue"}, "origin": {srv.URL}}
	if posted.Encode() != want.Encode() {
		t.Errorf("posted %v, want %v", *posted, want)
	}
}

func TestNavigateRedirectLoop(t *testing.T) {
	srv, client, _ := newServer(t)
	req, _ := http.NewRequest(http.MethodGet, srv.URL+"/loop", nil)
	if _, err := Navigate(client, srv.URL, req); !errors.Is(err, ErrTooManyRedirects) {
		t.Fatalf("err = %v", err)
	}
}

func TestAttrOfNothing(t *testing.T) {
	if Attr(nil, "x") != "" {
		t.Fatal("Attr(nil)")
	}
	p := &Page{}
	if p.Labelled("x") != nil || p.Text() != "" {
		t.Fatal("an empty page")
	}
}
