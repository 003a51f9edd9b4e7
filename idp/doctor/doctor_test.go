package doctor

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/communityidp/idp/config"
)

// findings indexes findings by check.
func findings(list []Finding) map[string]Finding {
	out := map[string]Finding{}
	for _, f := range list {
		out[f.Check] = f
	}
	return out
}

// A stand-in issuer: discovery says issuer, its clock is off by skew, and
// its JWKS answers when jwks is set.
func issuer(t *testing.T, say string, skew time.Duration, jwks bool) *httptest.Server {
	t.Helper()
	var srv *httptest.Server
	srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Date", time.Now().Add(skew).UTC().Format(http.TimeFormat))
		switch r.URL.Path {
		case "/.well-known/openid-configuration":
			iss := say
			if iss == "" {
				iss = srv.URL
			}
			_ = json.NewEncoder(w).Encode(map[string]string{"issuer": iss, "jwks_uri": srv.URL + "/keys"})
		case "/keys":
			if !jwks {
				http.NotFound(w, r)
				return
			}
			_, _ = w.Write([]byte(`{"keys":[]}`))
		default:
			http.NotFound(w, r)
		}
	}))
	t.Cleanup(srv.Close)
	return srv
}

func check(t *testing.T, srv *httptest.Server) map[string]Finding {
	cfg := config.Default()
	cfg.Issuer, cfg.Passkeys.RPID = srv.URL, "127.0.0.1"
	cfg.FillDefaults()
	return findings(Check(context.Background(), cfg, Options{}))
}

func TestDiscoveryChecks(t *testing.T) {
	good := check(t, issuer(t, "", 0, true))
	if f, ok := good["issuer reachable, discovery matches"]; !ok || !f.OK {
		t.Errorf("a matching issuer: %+v", good)
	}
	if f := good["clock"]; !f.OK {
		t.Errorf("clock in step: %+v", f)
	}
	if _, bad := good["JWKS"]; bad {
		t.Errorf("a JWKS that answers was reported: %+v", good["JWKS"])
	}

	other := check(t, issuer(t, "https://login.example.org", 0, true))
	if f := other["discovery matches the issuer"]; f.OK || !strings.Contains(f.Problem, "https://login.example.org") || f.Fix == "" {
		t.Errorf("another issuer: %+v", f)
	}

	off := check(t, issuer(t, "", 2*time.Minute, false))
	if f := off["clock"]; f.OK || !strings.Contains(f.Problem, "clock differs") {
		t.Errorf("a clock two minutes off: %+v", f)
	}
	if f := off["JWKS"]; f.OK || !strings.Contains(f.Problem, "/keys") {
		t.Errorf("a JWKS that does not answer: %+v", f)
	}

	down := httptest.NewServer(http.NotFoundHandler())
	down.Close()
	if f := check(t, down)["issuer reachable"]; f.OK || f.Fix == "" {
		t.Errorf("an issuer that does not answer: %+v", f)
	}
}

// Without email, the mail check is a note, not a problem.
func TestEmailOffIsANote(t *testing.T) {
	got := check(t, issuer(t, "", 0, true))
	for _, f := range got {
		if strings.Contains(strings.ToLower(f.Check), "mail") {
			if !f.Note || f.OK {
				t.Errorf("mail off: %+v", f)
			}
			return
		}
	}
	t.Errorf("no mail finding: %+v", got)
}
