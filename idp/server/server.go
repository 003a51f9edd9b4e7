// Package server assembles the provider: it opens the store, loads or
// creates the generated secrets and signing keys, builds the OpenID
// provider and the pages, mounts everything on one gin engine with the
// shared middleware, and runs the HTTP server with timeouts, graceful
// shutdown and the background loops (garbage collection, key rotation).
package server

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/communityidp/idp/config"
	"github.com/communityidp/idp/idp/account"
	"github.com/communityidp/idp/idp/admin"
	"github.com/communityidp/idp/idp/audit"
	"github.com/communityidp/idp/idp/backchannel"
	"github.com/communityidp/idp/idp/clientip"
	"github.com/communityidp/idp/idp/doctor"
	"github.com/communityidp/idp/idp/invite"
	"github.com/communityidp/idp/idp/keys"
	"github.com/communityidp/idp/idp/login"
	"github.com/communityidp/idp/idp/mail"
	"github.com/communityidp/idp/idp/metrics"
	"github.com/communityidp/idp/idp/oidcop"
	"github.com/communityidp/idp/idp/outbox"
	"github.com/communityidp/idp/idp/passkey"
	"github.com/communityidp/idp/idp/ratelimit"
	"github.com/communityidp/idp/idp/secrets"
	"github.com/communityidp/idp/idp/session"
	"github.com/communityidp/idp/idp/store"
	"github.com/communityidp/idp/idp/store/postgres"
	"github.com/communityidp/idp/idp/store/sqlite"
	"github.com/communityidp/idp/idp/throttle"
	"github.com/communityidp/idp/idp/web"
)

// OpenStore opens the configured database, brings its schema up to date
// and seals its secrets under the configured key-encryption key: values
// in clear (a database from before KEKs) or sealed under an older KEK are
// sealed again under the current one. The store it returns opens and
// seals them on the way.
func OpenStore(ctx context.Context, cfg config.Config) (*secrets.Store, error) {
	kr, err := secrets.Load(cfg)
	if err != nil {
		return nil, err
	}
	raw, err := openRaw(ctx, cfg.Database)
	if err != nil {
		return nil, err
	}
	n, err := secrets.Upgrade(ctx, raw, kr)
	if err != nil {
		raw.Close()
		return nil, err
	}
	if n > 0 {
		slog.Info("secrets sealed under the current key-encryption key", "values", n, "kek", kr.ID())
	}
	return secrets.Wrap(raw, kr), nil
}

// openRaw opens and migrates the database, its secrets as stored.
func openRaw(ctx context.Context, db config.Database) (store.Store, error) {
	switch db.Driver {
	case "sqlite":
		s, err := sqlite.Open(ctx, db.DSN)
		if err != nil {
			return nil, err
		}
		if err := s.Migrate(ctx); err != nil {
			s.Close()
			return nil, err
		}
		return s, nil
	case "postgres":
		s, err := postgres.Open(ctx, db.DSN)
		if err != nil {
			return nil, err
		}
		if err := s.Migrate(ctx); err != nil {
			s.Close()
			return nil, err
		}
		return s, nil
	}
	return nil, fmt.Errorf("database.driver %q is not supported", db.Driver)
}

// Server is an assembled provider.
type Server struct {
	cfg      config.Config
	store    store.Store
	keys     *keys.Manager
	provider *oidcop.Provider
	handler  http.Handler
	avail    *availability
	metrics  *metrics.Metrics
	proxies  *clientip.Resolver
	brand    *branding
	csrf     *session.CSRF
	// outbox delivers the outbox's mail and logout notices.
	outbox *outbox.Worker
	now    func() time.Time
}

// Options tune a Server; the zero value is production.
type Options struct {
	// Now is the clock; tests move it.
	Now func() time.Time
}

// New assembles the provider on an open, migrated store.
func New(ctx context.Context, cfg config.Config, st store.Store, o Options) (*Server, error) {
	if o.Now == nil {
		o.Now = time.Now
	}
	sealed, ok := st.(interface{ Keyring() *secrets.Keyring })
	if !ok {
		return nil, errors.New("server: the store was not opened with OpenStore (its secrets are not sealed)")
	}
	var m *metrics.Metrics
	if cfg.Metrics.Listen != "" {
		m = metrics.New()
		st = timedStore{Store: st, m: m}
	}
	// The outbox worker delivers from the store as it is; everything else
	// sees sessions end through endingStore, which nudges it, so that the
	// apps hear of a sign-out at once.
	ob := outbox.NewWorker(st, map[string]outbox.Handler{}, o.Now)
	ob.Result = func(msg store.OutboxMessage, result string) {
		if msg.Kind == mail.Kind {
			m.Mail(msg.Topic, result)
		} else {
			m.Backchannel(msg.Recipient, result)
		}
	}
	st = endingStore{Store: st, nudge: ob.Nudge}
	rec := &audit.Recorder{Store: st, Metrics: m, Now: o.Now}
	cryptoKeys, err := secrets.Versions(ctx, st, secrets.CryptoKey)
	if err != nil {
		return nil, err
	}
	csrfKeys, err := secrets.Versions(ctx, st, secrets.CSRFKey)
	if err != nil {
		return nil, err
	}
	km := keys.NewManager(st, keys.Options{
		RotationPeriod: cfg.Keys.RotationPeriod.D(),
		// A replaced key signed ID tokens that live IDTokenLifetime; keep
		// it published a while longer for clock skew and caches.
		PublishAfterRetire: cfg.Tokens.IDTokenLifetime.D() + time.Hour,
		// Replicas reload keys every keys.ReloadInterval (see Serve).
		PublishAhead: 2 * time.Minute,
		Now:          o.Now,
	})
	if err := km.Ensure(ctx); err != nil {
		return nil, fmt.Errorf("signing keys: %w", err)
	}
	if _, err := km.RotateDue(ctx); err != nil {
		return nil, fmt.Errorf("rotate signing keys: %w", err)
	}

	secure := strings.HasPrefix(cfg.Issuer, "https://")
	sessions := session.NewManager(st, st, session.Options{
		Secure: secure, IdleTimeout: cfg.Sessions.IdleTimeout.D(), AbsoluteLifetime: cfg.Sessions.AbsoluteLifetime.D(),
		ReauthAfter: cfg.Sessions.ReauthAfter.D(), Now: o.Now,
	})
	csrf := session.NewCSRF(csrfKeys[0], cfg.Issuer)
	csrf.SetKeys(csrfKeys...)
	brand, err := newBranding(cfg.Branding)
	if err != nil {
		return nil, err
	}
	mailer, mailHandler, err := NewMail(cfg, st, sealed.Keyring(), brand.brand.Logo, o.Now)
	if err != nil {
		return nil, err
	}
	if mailer != nil {
		ob.Handlers[mail.Kind] = mailHandler
		mailer.Outbox.Nudge = ob.Nudge
	}
	ob.Handlers[store.OutboxBackchannel] = backchannel.New(cfg, km, o.Now).Handler()
	render, err := web.NewRenderer(web.Options{Site: cfg.Branding.SiteName, Brand: brand.brand, CSRF: csrf,
		DefaultLanguage: cfg.UI.DefaultLanguage, Secure: secure})
	if err != nil {
		return nil, err
	}
	avail := newAvailability(st.Ping)
	limiter := throttle.New(st, cfg.Throttle, o.Now)
	limits := login.Limits{
		Identifier:    ratelimit.New("identifier", cfg.Throttle.IdentifierPerMinute, m, o.Now),
		Ceremony:      ratelimit.New("ceremony", cfg.Throttle.CeremonyPerMinute, m, o.Now),
		FailureReport: ratelimit.New("failure_report", cfg.Throttle.FailureReportPerMinute, m, o.Now),
	}
	provider, err := oidcop.New(oidcop.Options{
		Config: cfg, Store: st, Keys: km, CryptoKeys: keys32(cryptoKeys), Now: o.Now, Metrics: m, Throttle: limiter,
		AuthorizeLimit: ratelimit.New("authorize", cfg.Throttle.AuthorizePerMinute, m, o.Now),
		LogoutURL: func(target string) string {
			return "/logout?" + url.Values{"target": {target}, "sig": {csrf.SignTarget(target)}}.Encode()
		},
		ClearSessionCookie: sessions.ExpiredCookie,
		ErrorPage:          requestErrorPage(render),
		Available:          avail.Up,
		BrowserBinding: func(w http.ResponseWriter, r *http.Request) []byte {
			csrf.Token(w, r) // sets the cookie if the browser has none yet
			return csrf.Binding(r)
		},
	})
	if err != nil {
		return nil, err
	}
	fakeKey, err := st.Secret(ctx, "webauthn_fake_key", random32)
	if err != nil {
		return nil, fmt.Errorf("load WebAuthn key: %w", err)
	}
	passkeys, err := passkey.New(passkey.Options{Config: cfg, Store: st, FakeKey: fakeKey, Metrics: m, Now: o.Now})
	if err != nil {
		return nil, err
	}
	render.SetPasskeysOn(passkeys.On)
	wellKnown, err := passkey.NewWellKnown(cfg)
	if err != nil {
		return nil, err
	}
	names := map[string]string{}
	for _, c := range cfg.Clients {
		names[c.ID] = c.Name
	}
	proxies, err := clientip.New(cfg.TrustedProxies)
	if err != nil {
		return nil, err
	}
	s := &Server{cfg: cfg, store: st, keys: km, provider: provider, avail: avail, metrics: m, now: o.Now, proxies: proxies, brand: brand,
		csrf: csrf, outbox: ob}
	s.handler = s.routes(sessions, render, provider, wellKnown,
		&login.Handler{
			Store: st, Sessions: sessions, CSRF: csrf, Render: render, Passkeys: passkeys, Audit: rec, ClientNames: names,
			CallbackURL: provider.CallbackURL, Answer: provider.Answer, RedirectError: provider.RedirectError,
			PasswordMinLength: cfg.Password.MinLength, Throttle: limiter, Limits: limits, Now: o.Now,
			Mail: mailer, Lifecycle: login.Lifecycle{Issuer: cfg.Issuer, ResetLifetime: cfg.Admin.RecoveryLinkLifetime.D(),
				InviteLifetime: cfg.Registration.InvitationLifetime.D(), VerifyLifetime: cfg.Registration.VerificationLifetime.D(),
				Registration: cfg.Registration.Mode, RequireVerifiedEmail: cfg.Registration.RequireVerifiedEmail},
		},
		&account.Handler{Store: st, Sessions: sessions, CSRF: csrf, Render: render, Passkeys: passkeys, Audit: rec, PasswordMinLength: cfg.Password.MinLength,
			ReauthAfter: cfg.Sessions.ReauthAfter.D(), Throttle: limiter, CeremonyLimit: limits.Ceremony, Now: o.Now,
			Mail: mailer, VerifyLifetime: cfg.Registration.VerificationLifetime.D(), ClientNames: names, Backchannel: backchannelClients(cfg)},
		&admin.Handler{Store: st, CSRF: csrf, Render: render, Audit: rec, Passkeys: passkeys, Config: cfg, Now: o.Now,
			Synthetic: s.synthetic(), Mail: mailer,
			Invite: &invite.Inviter{Store: st, Mail: mailer, Lifetime: cfg.Registration.InvitationLifetime.D(), Now: o.Now}},
	)
	return s, nil
}

func random32() ([]byte, error) {
	b := make([]byte, 32)
	_, err := rand.Read(b)
	return b, err
}

func keys32(keys [][]byte) [][32]byte {
	out := make([][32]byte, len(keys))
	for i, k := range keys {
		copy(out[i][:], k)
	}
	return out
}

// reloadSecrets picks up a rotation of the token crypto key or the CSRF
// key made by `idp secrets rotate` (or another replica's operator).
func (s *Server) reloadSecrets(ctx context.Context) error {
	crypto, err := secrets.Versions(ctx, s.store, secrets.CryptoKey)
	if err != nil {
		return err
	}
	csrf, err := secrets.Versions(ctx, s.store, secrets.CSRFKey)
	if err != nil {
		return err
	}
	s.provider.SetCryptoKeys(keys32(crypto)...)
	s.csrf.SetKeys(csrf...)
	return nil
}

// Handler is the provider's HTTP handler.
func (s *Server) Handler() http.Handler { return s.handler }

// SetupLink returns a one-time link to create the first admin account
// while no account exists, and "" once one does. Each call issues a new
// link valid for a day.
func (s *Server) SetupLink(ctx context.Context) (string, error) {
	n, err := s.store.CountUsers(ctx)
	if err != nil {
		return "", fmt.Errorf("count users: %w", err)
	}
	if n > 0 {
		return "", nil
	}
	b := make([]byte, 24)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	token := base64.RawURLEncoding.EncodeToString(b)
	sum := sha256.Sum256([]byte(token))
	if err := s.store.CreateSetupToken(ctx, sum[:], s.now().Add(24*time.Hour)); err != nil {
		return "", fmt.Errorf("create setup token: %w", err)
	}
	return s.cfg.Issuer + "/setup?token=" + token, nil
}

// Serve answers on ln until ctx is cancelled, then shuts down gracefully:
// in-flight requests get up to 15 seconds to finish.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	srv := &http.Server{
		Handler:           s.handler,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       120 * time.Second,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(slog.Default().Handler(), slog.LevelWarn),
		BaseContext:       func(net.Listener) context.Context { return context.WithoutCancel(ctx) },
	}
	loops, stopLoops := context.WithCancel(ctx)
	defer stopLoops()
	go s.every(loops, time.Minute, "garbage collection", s.collect)
	// Also reloads the keys other replicas rotated.
	go s.every(loops, time.Minute, "signing key rotation", s.rotate)
	go s.every(loops, keys.ReloadInterval, "signing key reload", s.keys.Reload)
	go s.every(loops, keys.ReloadInterval, "secret reload", s.reloadSecrets)
	go s.every(loops, time.Hour, "audit retention", s.pruneAudit)
	if s.metrics != nil {
		go s.serveMetrics(loops)
	}
	go s.outbox.Run(loops)

	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	// Start-up is over once the server takes requests.
	go func() {
		select {
		case <-loops.Done():
		case <-time.After(startupSettled):
			releaseStartupPages()
		}
	}()
	select {
	case err := <-errc:
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}
	slog.Info("shutting down")
	shutdown, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	if err := srv.Shutdown(shutdown); err != nil {
		return fmt.Errorf("shutdown: %w", err)
	}
	return nil
}

// startupSettled is when start-up is over (the first requests served)
// and its pages can go.
const startupSettled = 5 * time.Second

func (s *Server) every(ctx context.Context, d time.Duration, what string, fn func(context.Context) error) {
	t := time.NewTicker(d)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			run, cancel := context.WithTimeout(ctx, d)
			if err := fn(run); err != nil && ctx.Err() == nil {
				slog.Error(what, "error", err)
			}
			cancel()
		}
	}
}

func (s *Server) collect(ctx context.Context) error {
	st, err := s.store.GC(ctx, s.now())
	if err != nil {
		return err
	}
	if st.Total() > 0 {
		slog.Debug("expired rows deleted", "auth_requests", st.AuthRequests, "access_tokens", st.AccessTokens,
			"refresh_tokens", st.RefreshTokens, "sessions", st.Sessions, "keys", st.SigningKeys)
	}
	return nil
}

// pruneAudit deletes audit events older than audit.retention.
func (s *Server) pruneAudit(ctx context.Context) error {
	n, err := s.store.PruneAudit(ctx, s.now().Add(-s.cfg.Audit.Retention.D()))
	if n > 0 {
		slog.Info("old audit events deleted", "count", n)
	}
	return err
}

// serveMetrics serves /metrics on metrics.listen until ctx ends.
func (s *Server) serveMetrics(ctx context.Context) {
	mux := http.NewServeMux()
	mux.Handle("/metrics", s.metrics.Handler())
	srv := &http.Server{Addr: s.cfg.Metrics.Listen, Handler: mux, ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout: 10 * time.Second, WriteTimeout: 10 * time.Second}
	go func() {
		<-ctx.Done()
		shutdown, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(shutdown)
	}()
	slog.Info("metrics listening", "listen", s.cfg.Metrics.Listen)
	if err := srv.ListenAndServe(); err != nil && !errors.Is(err, http.ErrServerClosed) {
		slog.Error("metrics server", "error", err)
	}
}

func (s *Server) rotate(ctx context.Context) error {
	_, err := s.provider.RotateKeysIfDue(ctx)
	return err
}

// init keeps gin quiet: routes are not printed at start.
func init() { gin.SetMode(gin.ReleaseMode) }

// synthetic is the admin console's end-to-end sign-in check, when the
// configuration names a test account. Its software passkey is kept in the
// database, so it is registered once and every replica can run the check.
func (s *Server) synthetic() func(context.Context) doctor.Result {
	if s.cfg.Doctor.Username == "" {
		return nil
	}
	return func(ctx context.Context) doctor.Result {
		return doctor.Synthetic(ctx, s.cfg, SecretState{Store: s.store})
	}
}

// SecretState keeps the synthetic check's passkey in the database.
type SecretState struct{ Store store.SecretStore }

var errNoState = errors.New("no saved passkey")

const stateSecret = "doctor_passkey"

// Load returns the saved passkey, or nil when there is none.
func (s SecretState) Load(ctx context.Context) ([]byte, error) {
	data, err := s.Store.Secret(ctx, stateSecret, func() ([]byte, error) { return nil, errNoState })
	if errors.Is(err, errNoState) {
		return nil, nil
	}
	return data, err
}

// Save stores the passkey; the first one saved stays.
func (s SecretState) Save(ctx context.Context, data []byte) error {
	_, err := s.Store.Secret(ctx, stateSecret, func() ([]byte, error) { return data, nil })
	return err
}

// endingStore nudges the outbox worker whenever sessions end: the store
// queued a logout notice to their apps in the same transaction.
type endingStore struct {
	store.Store
	nudge func()
}

func (e endingStore) DeleteSession(ctx context.Context, id string) error {
	defer e.nudge()
	return e.Store.DeleteSession(ctx, id)
}

func (e endingStore) DeleteUserSessions(ctx context.Context, userID, keepID string) error {
	defer e.nudge()
	return e.Store.DeleteUserSessions(ctx, userID, keepID)
}

func (e endingStore) DeleteUser(ctx context.Context, id string) error {
	defer e.nudge()
	return e.Store.DeleteUser(ctx, id)
}

func (e endingStore) RevokeGrant(ctx context.Context, userID, clientID string, now time.Time, notify bool) (bool, error) {
	defer e.nudge()
	return e.Store.RevokeGrant(ctx, userID, clientID, now, notify)
}

// backchannelClients are the clients that take back-channel logout.
func backchannelClients(cfg config.Config) map[string]bool {
	out := map[string]bool{}
	for _, c := range cfg.Clients {
		out[c.ID] = c.BackchannelLogoutURI != ""
	}
	return out
}
