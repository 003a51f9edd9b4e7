package backchannel

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/communityidp/idp/config"
	"github.com/communityidp/idp/idp/keys"
	"github.com/communityidp/idp/idp/outbox"
	"github.com/communityidp/idp/idp/store"
	"github.com/communityidp/idp/idp/store/storetest"
)

func notifier(t *testing.T, clients ...config.Client) (*Notifier, *keys.Manager) {
	t.Helper()
	st := storetest.SQLite(t)
	km := keys.NewManager(st, keys.Options{RotationPeriod: 30 * 24 * time.Hour})
	if err := km.Ensure(context.Background()); err != nil {
		t.Fatal(err)
	}
	cfg := config.Default()
	cfg.Issuer = "https://login.example.org"
	cfg.Clients = clients
	return New(cfg, km, func() time.Time { return time.Unix(1_800_000_000, 0) }), km
}

// A logout token is a JWS with typ logout+jwt, signed with the client's
// algorithm, holding exactly what section 2.4 asks for and no nonce.
func TestToken(t *testing.T) {
	site := config.Client{ID: "site", IDTokenSigningAlg: "ES256", BackchannelLogoutURI: "https://site.example/bcl"}
	n, km := notifier(t, site)
	raw, err := n.Token(site, store.LogoutNotice{Subject: "u1", SID: "sid1"})
	if err != nil {
		t.Fatal(err)
	}
	jws, err := jose.ParseSigned(raw, []jose.SignatureAlgorithm{jose.ES256})
	if err != nil {
		t.Fatalf("not an ES256 JWS: %v", err)
	}
	if typ, _ := jws.Signatures[0].Header.ExtraHeaders["typ"].(string); typ != TokenType {
		t.Errorf("typ %q", typ)
	}
	var pub *keys.PublicKey
	for _, k := range km.Public() {
		if k.ID() == jws.Signatures[0].Header.KeyID {
			pub = k
		}
	}
	if pub == nil {
		t.Fatal("signed with a key the JWKS does not publish")
	}
	payload, err := jws.Verify(pub.Key())
	if err != nil {
		t.Fatal(err)
	}
	var c map[string]any
	_ = json.Unmarshal(payload, &c)
	if c["iss"] != "https://login.example.org" || c["sub"] != "u1" || c["sid"] != "sid1" || c["jti"] == "" ||
		c["iat"] != 1.8e9 || c["exp"] != 1.8e9+120 {
		t.Errorf("claims %v", c)
	}
	if aud, _ := c["aud"].([]any); len(aud) != 1 || aud[0] != "site" {
		t.Errorf("aud %v", c["aud"])
	}
	if ev, _ := c["events"].(map[string]any); ev == nil || ev[Event] == nil {
		t.Errorf("events %v", c["events"])
	}
	if _, ok := c["nonce"]; ok {
		t.Error("a nonce in a logout token")
	}
}

// What the app answers decides: 200 and 204 are done; a 4xx is given up
// (retrying will not change it); a 5xx, a refused connection or a
// redirect (not followed) is retried; a client without a URI is dropped.
func TestDeliveryAnswers(t *testing.T) {
	status := http.StatusOK
	var got []string
	app := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost || r.Header.Get("Content-Type") != "application/x-www-form-urlencoded" {
			t.Errorf("%s %s", r.Method, r.Header.Get("Content-Type"))
		}
		got = append(got, r.PostFormValue("logout_token"))
		if status == http.StatusFound {
			http.Redirect(w, r, "/elsewhere", status)
			return
		}
		w.WriteHeader(status)
		if status == http.StatusBadRequest {
			_, _ = w.Write([]byte(`{"error":"invalid_request","error_description":"bad sid"}`))
		}
	}))
	defer app.Close()
	site := config.Client{ID: "site", BackchannelLogoutURI: app.URL + "/bcl"}
	n, _ := notifier(t, site, config.Client{ID: "plain"})
	h := n.Handler()
	msg := store.OutboxMessage{Kind: store.OutboxBackchannel, Recipient: "site", Payload: []byte(`{"sub":"u1","sid":"s"}`)}
	permanent := outbox.IsPermanent
	for _, c := range []struct {
		status    int
		ok, retry bool
	}{
		{http.StatusOK, true, false},
		{http.StatusNoContent, true, false},
		{http.StatusBadRequest, false, false},
		{http.StatusServiceUnavailable, false, true},
		{http.StatusFound, false, true},
	} {
		status = c.status
		err := h(context.Background(), msg)
		switch {
		case c.ok && err != nil, !c.ok && err == nil:
			t.Errorf("%d: %v", c.status, err)
		case !c.ok && c.retry == permanent(err):
			t.Errorf("%d: retry %v, got %v", c.status, c.retry, err)
		}
	}
	if len(got) != 5 || got[0] == "" || got[0] == got[1] {
		t.Errorf("tokens received: %d", len(got))
	}
	msg.Recipient = "plain"
	if err := h(context.Background(), msg); !permanent(err) {
		t.Errorf("a client without a URI: %v", err)
	}
	app.Close()
	msg.Recipient = "site"
	if err := h(context.Background(), msg); err == nil || permanent(err) {
		t.Errorf("an app that is down: %v", err)
	}
}
