package claysim

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"testing"
	"time"
)

const testAPIKey = "test-api-key"

// startSim starts a simulator on a free loopback port for one test.
func startSim(t *testing.T, cfg Config) *Running {
	t.Helper()
	sim, err := Start(t.Context(), "127.0.0.1:0", cfg)
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	t.Cleanup(func() {
		if err := sim.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return sim
}

// unlimited returns a config without a records rate limit, so that tests
// about other behaviour are not throttled.
func unlimited() Config {
	return Config{RateLimit: -1, APIKey: testAPIKey}
}

type response struct {
	status int
	header http.Header
	body   []byte
}

// request describes one HTTP call. Its body is sent as is when it is a
// string or []byte and encoded as JSON otherwise.
type request struct {
	method string
	url    string
	body   any
	header map[string]string
}

func do(t *testing.T, req request) response {
	t.Helper()
	resp, err := doContext(context.Background(), req)
	if err != nil {
		t.Fatalf("%s %s: %v", req.method, req.url, err)
	}
	return resp
}

func doContext(ctx context.Context, req request) (response, error) {
	var body io.Reader
	switch b := req.body.(type) {
	case nil:
	case string:
		body = bytes.NewReader([]byte(b))
	case []byte:
		body = bytes.NewReader(b)
	default:
		encoded, err := json.Marshal(b)
		if err != nil {
			return response{}, err
		}
		body = bytes.NewReader(encoded)
	}
	httpReq, err := http.NewRequestWithContext(ctx, req.method, req.url, body)
	if err != nil {
		return response{}, err
	}
	for name, value := range req.header {
		httpReq.Header.Set(name, value)
	}
	httpResp, err := http.DefaultClient.Do(httpReq)
	if err != nil {
		return response{}, err
	}
	defer httpResp.Body.Close()
	data, err := io.ReadAll(httpResp.Body)
	if err != nil {
		return response{}, err
	}
	return response{status: httpResp.StatusCode, header: httpResp.Header, body: data}, nil
}

// postRows sends rows to a webhook source of sim.
func postRows(t *testing.T, sim *Running, source string, rows any, header map[string]string) response {
	t.Helper()
	return do(t, request{method: http.MethodPost, url: sim.URL() + "/v3/sources/webhook/" + source, body: rows, header: header})
}

// callPublic sends a request to the public API with the test API key.
func callPublic(t *testing.T, sim *Running, method, path string, body any) response {
	t.Helper()
	return do(t, request{method: method, url: sim.URL() + "/public/v0" + path, body: body,
		header: map[string]string{"clay-api-key": testAPIKey}})
}

func decode[T any](t *testing.T, resp response) T {
	t.Helper()
	var v T
	if err := json.Unmarshal(resp.body, &v); err != nil {
		t.Fatalf("decode %s: %v", resp.body, err)
	}
	return v
}

// wantStatus fails the test unless resp has the given status.
func wantStatus(t *testing.T, resp response, want int) {
	t.Helper()
	if resp.status != want {
		t.Fatalf("status = %d, want %d; body %s", resp.status, want, resp.body)
	}
}

// wantMessage fails the test unless resp is a Clay error {"message": ...}.
func wantMessage(t *testing.T, resp response) {
	t.Helper()
	var body struct {
		Message string `json:"message"`
	}
	if err := json.Unmarshal(resp.body, &body); err != nil || body.Message == "" {
		t.Errorf("body = %s, want JSON with a non-empty message", resp.body)
	}
}

// waitFor polls condition every 5ms until it holds or timeout passes.
func waitFor(t *testing.T, timeout time.Duration, what string, condition func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	ticker := time.NewTicker(5 * time.Millisecond)
	defer ticker.Stop()
	for !condition() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", timeout, what)
		}
		<-ticker.C
	}
}

// rowsWithKeys returns webhook rows carrying the given request keys.
func rowsWithKeys(keys ...string) []map[string]any {
	rows := make([]map[string]any, len(keys))
	for i, key := range keys {
		rows[i] = map[string]any{rowKeyField: key, "email": key + "@example.com"}
	}
	return rows
}
