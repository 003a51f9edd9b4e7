// Command floor serves a provider's discovery document and key set from
// a plain net/http server, the same bytes with the same headers: what
// serving them costs at the least on this machine. bench/run.sh runs the
// load tool against it and against the provider in the same run, so the
// provider's figures are read as a share of this floor.
//
//	go run ./bench/floor -from http://localhost:19400 -listen 127.0.0.1:19401
package main

import (
	"flag"
	"fmt"
	"io"
	"log"
	"net/http"
	"strings"
)

func main() {
	from := flag.String("from", "http://localhost:8080", "the provider's issuer URL")
	listen := flag.String("listen", "127.0.0.1:19401", "where to serve the copies")
	flag.Parse()
	mux := http.NewServeMux()
	for _, path := range []string{"/.well-known/openid-configuration", "/keys"} {
		body, header, err := get(strings.TrimSuffix(*from, "/") + path)
		if err != nil {
			log.Fatal(err)
		}
		mux.HandleFunc("GET "+path, func(w http.ResponseWriter, r *http.Request) {
			for _, k := range []string{"Content-Type", "Cache-Control", "ETag"} {
				if v := header.Get(k); v != "" {
					w.Header().Set(k, v)
				}
			}
			_, _ = w.Write(body)
		})
	}
	log.Fatal(http.ListenAndServe(*listen, mux))
}

func get(u string) ([]byte, http.Header, error) {
	resp, err := http.Get(u)
	if err != nil {
		return nil, nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, nil, fmt.Errorf("GET %s: %s", u, resp.Status)
	}
	body, err := io.ReadAll(resp.Body)
	return body, resp.Header, err
}
