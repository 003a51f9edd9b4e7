package server

import (
	"context"
	"errors"
	"io"
	"log/slog"

	"github.com/communityidp/idp/config"
	"github.com/communityidp/idp/idp/web"
)

// NewLogger builds the process logger from the log settings. Every record
// logged with a request's context carries its request_id, none holds a
// parameter a client may treat as secret (Redact), and a request the
// client abandoned is no error (abandonedHandler).
func NewLogger(cfg config.Log, w io.Writer) *slog.Logger {
	opts := &slog.HandlerOptions{Level: logLevel(cfg.Level)}
	var h slog.Handler = slog.NewTextHandler(w, opts)
	if cfg.Format == "json" {
		h = slog.NewJSONHandler(w, opts)
	}
	return slog.New(abandonedHandler{Redact(requestIDHandler{h})})
}

// logLevel reads a configured level name (validated by config).
func logLevel(name string) slog.Level {
	var l slog.Level
	_ = l.UnmarshalText([]byte(name))
	return l
}

type requestIDHandler struct{ slog.Handler }

func (h requestIDHandler) Handle(ctx context.Context, r slog.Record) error {
	if id := web.RequestID(ctx); id != "" {
		r.AddAttrs(slog.String("request_id", id))
	}
	return h.Handler.Handle(ctx, r)
}

// abandonedHandler logs the failure of a request whose context ended (the
// client went away, or the server is stopping) at INFO when that ending
// is the error: not a fault of the provider, nor of the client's grant,
// whatever level its logger chose (op logs a write cut short as a
// server_error, a read as invalid_grant; the client hears neither). It
// sees the record before Redact resolves its values into groups, which
// hides the errors they wrap.
type abandonedHandler struct{ slog.Handler }

func (h abandonedHandler) Handle(ctx context.Context, r slog.Record) error {
	if r.Level > slog.LevelInfo && ctx.Err() != nil && failedByCancel(r) {
		r.Level = slog.LevelInfo
		if !h.Handler.Enabled(ctx, r.Level) {
			return nil
		}
	}
	return h.Handler.Handle(ctx, r)
}

func (h abandonedHandler) WithAttrs(a []slog.Attr) slog.Handler {
	return abandonedHandler{h.Handler.WithAttrs(a)}
}

func (h abandonedHandler) WithGroup(n string) slog.Handler {
	return abandonedHandler{h.Handler.WithGroup(n)}
}

// failedByCancel reports whether an error r holds is a context's
// cancellation.
func failedByCancel(r slog.Record) bool {
	found := false
	r.Attrs(func(a slog.Attr) bool {
		if err, ok := a.Value.Any().(error); ok && errors.Is(err, context.Canceled) {
			found = true
		}
		return !found
	})
	return found
}

func (h requestIDHandler) WithAttrs(a []slog.Attr) slog.Handler {
	return requestIDHandler{h.Handler.WithAttrs(a)}
}

func (h requestIDHandler) WithGroup(n string) slog.Handler {
	return requestIDHandler{h.Handler.WithGroup(n)}
}

// secretParams are request parameters a client may treat as secret: the
// logs never hold them, whoever logs them (op logs an error's state).
var secretParams = map[string]bool{"state": true, "code_verifier": true, "login_hint": true, "nonce": true,
	"password": true, "client_secret": true}

// Redact wraps h so that no attribute named like a secret parameter,
// however deep in a group, reaches it.
func Redact(h slog.Handler) slog.Handler { return redactHandler{h} }

type redactHandler struct{ slog.Handler }

func (h redactHandler) Handle(ctx context.Context, r slog.Record) error {
	out := slog.NewRecord(r.Time, r.Level, r.Message, r.PC)
	r.Attrs(func(a slog.Attr) bool {
		if a, ok := redactAttr(a); ok {
			out.AddAttrs(a)
		}
		return true
	})
	return h.Handler.Handle(ctx, out)
}

func (h redactHandler) WithAttrs(as []slog.Attr) slog.Handler {
	kept := make([]slog.Attr, 0, len(as))
	for _, a := range as {
		if a, ok := redactAttr(a); ok {
			kept = append(kept, a)
		}
	}
	return redactHandler{h.Handler.WithAttrs(kept)}
}

func (h redactHandler) WithGroup(n string) slog.Handler { return redactHandler{h.Handler.WithGroup(n)} }

// redactAttr drops a secret attribute, and secret members of a group.
func redactAttr(a slog.Attr) (slog.Attr, bool) {
	if secretParams[a.Key] {
		return a, false
	}
	v := a.Value.Resolve()
	if v.Kind() != slog.KindGroup {
		return slog.Attr{Key: a.Key, Value: v}, true
	}
	var kept []slog.Attr
	for _, m := range v.Group() {
		if m, ok := redactAttr(m); ok {
			kept = append(kept, m)
		}
	}
	return slog.Attr{Key: a.Key, Value: slog.GroupValue(kept...)}, true
}
