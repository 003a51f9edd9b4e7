package web

import (
	"net/http"
	"net/http/httptest"
	"testing"
)

// BenchmarkRenderSignIn renders the first sign-in page (the identifier
// step with passkey autofill), as every sign-in shows it.
func BenchmarkRenderSignIn(b *testing.B) {
	r := testRenderer(b, "en")
	req := r.Language(httptest.NewRecorder(), httptest.NewRequest(http.MethodGet, "/login", nil), true)
	data := loginData{Client: "Site", Autofill: true}
	data.Flow.AuthRequestID = "V1StGXR8_Z5jdHi6B-myT"
	b.ReportAllocs()
	for b.Loop() {
		r.Render(httptest.NewRecorder(), req, http.StatusOK, "login_identifier", nil, data)
	}
}
