// Package metrics holds the provider's Prometheus metrics, on their own
// registry, served on a separate listen address (metrics.listen; off by
// default) so they never leak through the public port.
package metrics

import (
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Metrics are the provider's counters and histograms. A nil *Metrics is
// valid and records nothing, so callers need no checks.
type Metrics struct {
	registry     *prometheus.Registry
	httpRequests *prometheus.CounterVec
	httpDuration *prometheus.HistogramVec
	signIns      *prometheus.CounterVec
	ceremonies   *prometheus.CounterVec
	tokens       *prometheus.CounterVec
	storeLatency *prometheus.HistogramVec
	created      *prometheus.CounterVec
	rateLimited  *prometheus.CounterVec
	mail         *prometheus.CounterVec
	backchannel  *prometheus.CounterVec
}

// New registers the metrics on a fresh registry.
func New() *Metrics {
	r := prometheus.NewRegistry()
	m := &Metrics{
		registry: r,
		httpRequests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "idp_http_requests_total", Help: "HTTP requests by route, method and status.",
		}, []string{"route", "method", "status"}),
		httpDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "idp_http_request_duration_seconds", Help: "HTTP request latency by route.",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5},
		}, []string{"route"}),
		signIns: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "idp_signins_total", Help: "Sign-ins by method (pwd, passkey, pwd-after-passkey) and result (ok, fail).",
		}, []string{"method", "result"}),
		ceremonies: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "idp_passkey_ceremonies_total", Help: "Passkey ceremonies by kind (register, login) and result (ok or the error code).",
		}, []string{"kind", "result"}),
		tokens: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "idp_tokens_issued_total", Help: "Token responses by grant type.",
		}, []string{"grant"}),
		storeLatency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "idp_store_operation_duration_seconds", Help: "Database operation latency by operation.",
			Buckets: []float64{.0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .5},
		}, []string{"op"}),
		created: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "idp_created_total", Help: "Rows anyone may make the provider write, by what: auth_request (/authorize), ceremony (a passkey ceremony begun).",
		}, []string{"what"}),
		rateLimited: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "idp_rate_limited_total", Help: "Requests turned away by a per-address rate limit, by limit (identifier, authorize, ceremony, failure_report).",
		}, []string{"limit"}),
		mail: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "idp_mail_total", Help: "Mail by topic (reset, verify, invite, notice...) and result (sent, retry, given_up).",
		}, []string{"topic", "result"}),
		backchannel: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "idp_backchannel_logout_total", Help: "Back-channel logout tokens by client and result (sent, retry, given_up).",
		}, []string{"client", "result"}),
	}
	r.MustRegister(m.httpRequests, m.httpDuration, m.signIns, m.ceremonies, m.tokens, m.storeLatency, m.created, m.rateLimited, m.mail,
		m.backchannel,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// Handler serves the metrics in the Prometheus text format.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.registry, promhttp.HandlerOpts{})
}

// HTTP records one request.
func (m *Metrics) HTTP(route, method string, status int, d time.Duration) {
	if m == nil {
		return
	}
	m.httpRequests.WithLabelValues(route, method, strconv.Itoa(status)).Inc()
	m.httpDuration.WithLabelValues(route).Observe(d.Seconds())
}

// SignIn records a sign-in attempt.
func (m *Metrics) SignIn(method, result string) {
	if m == nil {
		return
	}
	m.signIns.WithLabelValues(method, result).Inc()
}

// Ceremony records a passkey ceremony's outcome ("ok" or an error code).
func (m *Metrics) Ceremony(kind, result string) {
	if m == nil {
		return
	}
	m.ceremonies.WithLabelValues(kind, result).Inc()
}

// Token records a token response of a grant type.
func (m *Metrics) Token(grant string) {
	if m == nil {
		return
	}
	m.tokens.WithLabelValues(grant).Inc()
}

// Store records a database operation's latency.
func (m *Metrics) Store(op string, d time.Duration) {
	if m == nil {
		return
	}
	m.storeLatency.WithLabelValues(op).Observe(d.Seconds())
}

// Created counts a row an outside request made the provider write:
// "auth_request" or "ceremony".
func (m *Metrics) Created(what string) {
	if m == nil {
		return
	}
	m.created.WithLabelValues(what).Inc()
}

// RateLimited counts a request a rate limit turned away.
func (m *Metrics) RateLimited(limit string) {
	if m == nil {
		return
	}
	m.rateLimited.WithLabelValues(limit).Inc()
}

// Backchannel counts a logout token delivery's result: sent, retry or
// given_up.
func (m *Metrics) Backchannel(client, result string) {
	if m == nil {
		return
	}
	m.backchannel.WithLabelValues(client, result).Inc()
}

// Mail counts a send attempt's result: sent, retry or given_up.
func (m *Metrics) Mail(topic, result string) {
	if m == nil {
		return
	}
	m.mail.WithLabelValues(topic, result).Inc()
}
