package web

import (
	"encoding/json"
	"io"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/communityidp/idp/idp/i18n"
	"github.com/communityidp/idp/idp/session"
	"github.com/communityidp/idp/ui"
)

// testRenderer renders with the shipped English and a small Spanish
// catalog that lacks most keys.
func testRenderer(t testing.TB, def string) *Renderer {
	t.Helper()
	en, err := fs.ReadFile(ui.Locales, "locales/en.json")
	if err != nil {
		t.Fatal(err)
	}
	es, _ := json.Marshal(map[string]string{
		"login.title":                  "Iniciar sesión",
		"login.continue":               "Continuar",
		"login.to_continue_to":         "para continuar en %s",
		"passkey.error.PK-CANCELLED":   "Se canceló la solicitud de llave de acceso.",
		"passkey.script.generic":       "Algo salió mal con la llave de acceso.",
		"error.NOT-FOUND.title":        "Página no encontrada",
		"error.NOT-FOUND.message":      "No hay nada en esta dirección.",
		"error.support":                "Si contactas con soporte, menciona el código %s.",
		"error.support_reference":      "Si contactas con soporte, menciona el código %[1]s y la referencia %[2]s.",
		"device.browser_on_system":     "%[1]s en %[2]s",
		"common.unknown":               "Desconocido",
		"support.code_link":            "¿Qué significa este código?",
		"time.minutes":                 "%d minutos",
		"settings.history.caption":     "Tus últimos %d inicios de sesión",
		"admin.overview.never_checked": "Última comprobación: nunca.",
	})
	cat, err := i18n.Load(fstest.MapFS{"l/en.json": {Data: en}, "l/es.json": {Data: es}}, "l")
	if err != nil {
		t.Fatal(err)
	}
	r, err := NewRenderer(Options{Site: "Test Community", CSRF: session.NewCSRF([]byte("0123456789abcdef0123456789abcdef"), "http://localhost"),
		DefaultLanguage: def, Catalog: cat})
	if err != nil {
		t.Fatal(err)
	}
	return r
}

type loginData struct {
	Flow struct {
		AuthRequestID, Next string
		Reauth              bool
	}
	Client   string
	Login    string
	Error    string
	Autofill bool
	Signup   bool
}

// page renders the sign-in page for req, after the language middleware.
func page(r *Renderer, req *http.Request, newFlow bool) *httptest.ResponseRecorder {
	w := httptest.NewRecorder()
	req = r.Language(w, req, newFlow)
	r.Render(w, req, http.StatusOK, "login_identifier", nil, loginData{Client: "Site <&>", Autofill: true})
	return w
}

func langCookie(w *httptest.ResponseRecorder) *http.Cookie {
	for _, c := range w.Result().Cookies() {
		if c.Name == LangCookie {
			return c
		}
	}
	return nil
}

func TestLanguageChoice(t *testing.T) {
	r := testRenderer(t, "")
	get := func(target string, header map[string]string, cookie string) *http.Request {
		req := httptest.NewRequest(http.MethodGet, target, nil)
		for k, v := range header {
			req.Header.Set(k, v)
		}
		if cookie != "" {
			req.AddCookie(&http.Cookie{Name: LangCookie, Value: cookie})
		}
		return req
	}
	for _, tc := range []struct {
		name    string
		req     *http.Request
		newFlow bool
		lang    string
		cookie  string // "" none, "-" deleted, else the value set
	}{
		{"nothing asked: the default", get("/login", nil, ""), false, "en", ""},
		{"Accept-Language", get("/login", map[string]string{"Accept-Language": "es-MX,es;q=0.9,en;q=0.5"}, ""), false, "es", ""},
		{"Accept-Language without a shipped language", get("/login", map[string]string{"Accept-Language": "ja, ko"}, ""), false, "en", ""},
		{"ui_locales on a page wins and is remembered", get("/login?ui_locales=fr%20es", map[string]string{"Accept-Language": "en"}, ""), false, "es", "es"},
		{"lang on a page", get("/settings?lang=es", nil, ""), false, "es", "es"},
		{"lang over the cookie", get("/settings?lang=en", nil, "es"), false, "en", "en"},
		{"the cookie over Accept-Language", get("/settings", map[string]string{"Accept-Language": "en"}, "es"), false, "es", ""},
		{"a cookie that is not a shipped language", get("/settings", map[string]string{"Accept-Language": "es"}, "xx"), false, "es", ""},
		{"an unknown ui_locales is ignored", get("/login?ui_locales=ja", map[string]string{"Accept-Language": "es"}, ""), false, "es", ""},
		{"a new authorization request with ui_locales", get("/authorize?ui_locales=es", nil, "en"), true, "es", "es"},
		{"a new authorization request without: the cookie goes", get("/authorize", map[string]string{"Accept-Language": "en"}, "es"), true, "en", "-"},
	} {
		w := page(r, tc.req, tc.newFlow)
		body := w.Body.String()
		if !strings.Contains(body, `<html lang="`+tc.lang+`">`) {
			t.Errorf("%s: not <html lang=%q>", tc.name, tc.lang)
		}
		if got := w.Header().Get("Content-Language"); got != tc.lang {
			t.Errorf("%s: Content-Language %q", tc.name, got)
		}
		c := langCookie(w)
		switch {
		case tc.cookie == "" && c != nil:
			t.Errorf("%s: set %s=%q", tc.name, c.Name, c.Value)
		case tc.cookie == "-" && (c == nil || c.MaxAge >= 0):
			t.Errorf("%s: the cookie was not deleted: %v", tc.name, c)
		case tc.cookie != "" && tc.cookie != "-" && (c == nil || c.Value != tc.cookie || !c.HttpOnly || c.Path != "/"):
			t.Errorf("%s: cookie %v, want %s", tc.name, c, tc.cookie)
		}
	}
	if v := page(r, get("/login", nil, ""), false).Header().Values("Vary"); !strings.Contains(strings.Join(v, ","), "Accept-Language") {
		t.Errorf("Vary: %v", v)
	}
}

func TestLanguagePages(t *testing.T) {
	r := testRenderer(t, "")
	req := httptest.NewRequest(http.MethodGet, "/login", nil)
	req.Header.Set("Accept-Language", "es")
	body := page(r, req, false).Body.String()
	for _, want := range []string{
		"<title>Iniciar sesión · Test Community</title>",
		`<button type="submit" class="primary">Continuar</button>`,
		// An argument with markup around it: escaped, inside the markup.
		`<p class="lead">para continuar en <strong>Site &lt;&amp;&gt;</strong></p>`,
		// Missing in Spanish: English.
		`<label for="login">Email or username</label>`,
		// The page script's texts.
		`"PK-CANCELLED":"Se canceló la solicitud de llave de acceso."`,
		`"generic":"Algo salió mal con la llave de acceso."`,
		`"signInAgain":"Sign in again"`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("Spanish sign-in page lacks %s", want)
		}
	}

	// The error page, and a Failure's texts.
	w := httptest.NewRecorder()
	req = httptest.NewRequest(http.MethodGet, "/nope?lang=es", nil)
	req = r.Language(w, req, false)
	r.Error(w, req, FailNotFound)
	body = w.Body.String()
	for _, want := range []string{"<h1>Página no encontrada</h1>", "<p>No hay nada en esta dirección.</p>",
		"Si contactas con soporte, menciona el código <code>NOT-FOUND</code>.", "¿Qué significa este código?", "Go to your account"} {
		if !strings.Contains(body, want) {
			t.Errorf("Spanish error page lacks %q", want)
		}
	}

	// JSON answers and the helpers handlers use.
	w = httptest.NewRecorder()
	r.JSONFail(w, req, http.StatusBadRequest, "PK-CANCELLED", "passkey.error.PK-CANCELLED")
	if got := w.Body.String(); !strings.Contains(got, `"error":"PK-CANCELLED","message":"Se canceló la solicitud de llave de acceso."`) {
		t.Errorf("JSON: %s", got)
	}
	if got := r.Device(req, "Mozilla/5.0 (Linux; Android 14) AppleWebKit/537.36 Chrome/126.0 Mobile Safari/537.36"); got != "Chrome en Android" {
		t.Errorf("Device = %q", got)
	}
	if got := r.Wait(req, 150e9); got != "3 minutos" {
		t.Errorf("Wait = %q", got)
	}
}

// UseLocales (an authorization request's ui_locales) wins over the
// cookie and the browser, but not over a language the request names.
func TestUseLocales(t *testing.T) {
	r := testRenderer(t, "")
	w := httptest.NewRecorder()
	req := httptest.NewRequest(http.MethodGet, "/login?authRequestID=x", nil)
	req.Header.Set("Accept-Language", "en")
	req.AddCookie(&http.Cookie{Name: LangCookie, Value: "en"})
	req = r.Language(w, req, false)
	req = r.UseLocales(w, req, []string{"de-CH", "es-419"})
	if got := r.Printer(req).Tag().String(); got != "es" {
		t.Errorf("with ui_locales es-419: %s", got)
	}
	if c := langCookie(w); c == nil || c.Value != "es" {
		t.Errorf("ui_locales not remembered: %v", c)
	}

	w = httptest.NewRecorder()
	req = httptest.NewRequest(http.MethodGet, "/login?authRequestID=x&lang=en", nil)
	req = r.Language(w, req, false)
	if got := r.Printer(r.UseLocales(w, req, []string{"es"})).Tag().String(); got != "en" {
		t.Errorf("lang=en lost to ui_locales: %s", got)
	}
	if got := r.Printer(r.UseLocales(w, httptest.NewRequest(http.MethodGet, "/", nil), []string{"ja"})).Tag().String(); got != "en" {
		t.Errorf("unshipped ui_locales: %s", got)
	}
}

func TestDefaultLanguage(t *testing.T) {
	r := testRenderer(t, "es")
	// Without the middleware (the request never named one), the Printer
	// still negotiates: here the default.
	req := httptest.NewRequest(http.MethodGet, "/", nil)
	if got := r.Printer(req).Tag().String(); got != "es" {
		t.Errorf("default es: %s", got)
	}
	req.Header.Set("Accept-Language", "en-GB")
	if got := r.Printer(req).Tag().String(); got != "en" {
		t.Errorf("Accept-Language en-GB: %s", got)
	}
	if _, err := NewRenderer(Options{Site: "x", CSRF: session.NewCSRF(make([]byte, 32), "http://localhost"), DefaultLanguage: "xx"}); err == nil ||
		!strings.Contains(err.Error(), `"xx"`) {
		t.Errorf("an unshipped default language: %v", err)
	}
}

// A page goes out whole, with its length: not chunked.
func TestPageHasContentLength(t *testing.T) {
	r := testRenderer(t, "en")
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		req = r.Language(w, req, true)
		r.Render(w, req, http.StatusOK, "login_identifier", nil, loginData{Client: "Site", Autofill: true})
	}))
	defer srv.Close()
	resp, err := http.Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	// Over 2 KB, net/http chunks a body whose length it was not told.
	if len(body) <= 2048 || resp.ContentLength != int64(len(body)) || len(resp.TransferEncoding) > 0 {
		t.Errorf("a %d-byte page came with Content-Length %d and Transfer-Encoding %v", len(body), resp.ContentLength, resp.TransferEncoding)
	}
}
