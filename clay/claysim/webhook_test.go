package claysim

import (
	"net/http"
	"strings"
	"testing"
)

func TestRowsRateLimitCountsRecords(t *testing.T) {
	// A refill of one record per 1000 s keeps the bucket where the burst
	// left it for the length of the test.
	sim := startSim(t, Config{RateLimit: 0.001, Burst: 5})
	steps := []struct {
		rows           int
		wantStatus     int
		wantRetryAfter string
	}{
		{rows: 3, wantStatus: http.StatusOK},
		{rows: 3, wantStatus: http.StatusTooManyRequests, wantRetryAfter: "1"},
		{rows: 2, wantStatus: http.StatusOK},
		{rows: 1, wantStatus: http.StatusTooManyRequests, wantRetryAfter: "1"},
	}
	for i, step := range steps {
		keys := make([]string, step.rows)
		for j := range keys {
			keys[j] = "k"
		}
		resp := postRows(t, sim, "s", rowsWithKeys(keys...), nil)
		if resp.status != step.wantStatus {
			t.Fatalf("step %d (%d rows): status = %d, want %d; body %s", i, step.rows, resp.status, step.wantStatus, resp.body)
		}
		if got := resp.header.Get("Retry-After"); got != step.wantRetryAfter {
			t.Errorf("step %d: Retry-After = %q, want %q", i, got, step.wantRetryAfter)
		}
		if step.wantStatus == http.StatusTooManyRequests {
			wantMessage(t, resp)
		}
	}
	if got := sim.Stats().RecordsAccepted; got != 5 {
		t.Errorf("records accepted = %d, want 5", got)
	}
}

func TestRowsRateLimitWithoutRetryAfter(t *testing.T) {
	sim := startSim(t, Config{RateLimit: 0.001, Burst: 1, NoRetryAfter: true})
	resp := postRows(t, sim, "s", rowsWithKeys("a", "b"), nil)
	wantStatus(t, resp, http.StatusTooManyRequests)
	if values := resp.header.Values("Retry-After"); len(values) != 0 {
		t.Errorf("Retry-After = %q, want no header", values)
	}
}

func TestRowsBodySizeLimit(t *testing.T) {
	sim := startSim(t, unlimited())
	tests := []struct {
		name string
		size int
		want int
	}{
		{"at limit", DefaultMaxBodyBytes, http.StatusOK},
		{"one byte over", DefaultMaxBodyBytes + 1, http.StatusRequestEntityTooLarge},
		{"far over", 3 * DefaultMaxBodyBytes, http.StatusRequestEntityTooLarge},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			body := rowOfSize(tt.size)
			if len(body) != tt.size {
				t.Fatalf("test body has %d bytes, want %d", len(body), tt.size)
			}
			resp := postRows(t, sim, "s", body, nil)
			wantStatus(t, resp, tt.want)
			if tt.want != http.StatusOK {
				wantMessage(t, resp)
			}
		})
	}
}

// rowOfSize returns a JSON object of exactly size bytes.
func rowOfSize(size int) string {
	const frame = `{"claybridge_key":"big","pad":""}`
	return `{"claybridge_key":"big","pad":"` + strings.Repeat("x", size-len(frame)) + `"}`
}

func TestRowsWebhookToken(t *testing.T) {
	cfg := unlimited()
	cfg.WebhookToken = "secret-token"
	sim := startSim(t, cfg)
	tests := []struct {
		name   string
		header map[string]string
		want   int
	}{
		{"missing", nil, http.StatusUnauthorized},
		{"wrong", map[string]string{"x-clay-webhook-auth": "other"}, http.StatusUnauthorized},
		{"right", map[string]string{"x-clay-webhook-auth": "secret-token"}, http.StatusOK},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp := postRows(t, sim, "s", rowsWithKeys("a"), tt.header)
			wantStatus(t, resp, tt.want)
			if tt.want == http.StatusUnauthorized {
				wantMessage(t, resp)
			}
		})
	}
}

func TestRowsInvalidBody(t *testing.T) {
	sim := startSim(t, unlimited())
	tests := []struct {
		name string
		body string
	}{
		{"empty", ""},
		{"not JSON", "claybridge"},
		{"truncated", `{"a":`},
		{"string", `"row"`},
		{"array of numbers", `[1,2]`},
		{"empty array", `[]`},
		{"one bad row", `[{"a":1},3]`},
		{"trailing data", `{"a":1}{"b":2}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp := postRows(t, sim, "s", tt.body, nil)
			wantStatus(t, resp, http.StatusBadRequest)
			wantMessage(t, resp)
		})
	}
	if got := sim.Stats().RecordsAccepted; got != 0 {
		t.Errorf("records accepted = %d, want 0", got)
	}
}

func TestRowsSingleObjectIsOneRow(t *testing.T) {
	sim := startSim(t, unlimited())
	resp := postRows(t, sim, "s", map[string]any{rowKeyField: "only", "name": "Avery"}, nil)
	wantStatus(t, resp, http.StatusOK)
	ack := decode[webhookAckBody](t, resp)
	if ack.Status != "ok" || ack.Rows != 1 {
		t.Errorf("ack = %+v, want status ok and 1 row", ack)
	}
	if got := sim.Stats().SubmissionsByKey["only"]; got != 1 {
		t.Errorf("submissions of key only = %d, want 1", got)
	}
}

func TestRowsAckVariants(t *testing.T) {
	tests := []struct {
		ack             string
		wantStatus      int
		wantContentType string
		wantBody        string
	}{
		{"", http.StatusOK, "application/json", `{"status":"ok","rows":2}` + "\n"},
		{AckJSON200, http.StatusOK, "application/json", `{"status":"ok","rows":2}` + "\n"},
		{AckJSON202, http.StatusAccepted, "application/json", `{"status":"ok","rows":2}` + "\n"},
		{AckEmpty200, http.StatusOK, "", ""},
		{AckHTML200, http.StatusOK, "text/html; charset=utf-8", "<!DOCTYPE html><html><body><p>OK</p></body></html>\n"},
	}
	for _, tt := range tests {
		t.Run("ack "+tt.ack, func(t *testing.T) {
			cfg := unlimited()
			cfg.WebhookAck = tt.ack
			sim := startSim(t, cfg)
			resp := postRows(t, sim, "s", rowsWithKeys("a", "b"), nil)
			wantStatus(t, resp, tt.wantStatus)
			if got := resp.header.Get("Content-Type"); tt.wantContentType != "" && got != tt.wantContentType {
				t.Errorf("Content-Type = %q, want %q", got, tt.wantContentType)
			}
			if got := string(resp.body); got != tt.wantBody {
				t.Errorf("body = %q, want %q", got, tt.wantBody)
			}
		})
	}
}

func TestRowsSourceLifetimeLimit(t *testing.T) {
	cfg := unlimited()
	cfg.MaxRowsPerSource = 3
	sim := startSim(t, cfg)
	steps := []struct {
		source string
		rows   int
		want   int
	}{
		{"a", 2, http.StatusOK},
		{"a", 2, http.StatusForbidden},
		{"a", 1, http.StatusOK},
		{"a", 1, http.StatusForbidden},
		{"b", 3, http.StatusOK},
	}
	for i, step := range steps {
		keys := make([]string, step.rows)
		for j := range keys {
			keys[j] = step.source
		}
		resp := postRows(t, sim, step.source, rowsWithKeys(keys...), nil)
		if resp.status != step.want {
			t.Fatalf("step %d (source %s, %d rows): status = %d, want %d; body %s",
				i, step.source, step.rows, resp.status, step.want, resp.body)
		}
	}
}

func TestRowsSourceLifetimeLimitStatus(t *testing.T) {
	tests := []struct {
		name      string
		capStatus int
		want      int
	}{
		{"default", 0, http.StatusForbidden},
		{"403", http.StatusForbidden, http.StatusForbidden},
		{"422", http.StatusUnprocessableEntity, http.StatusUnprocessableEntity},
		{"429", http.StatusTooManyRequests, http.StatusTooManyRequests},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := unlimited()
			cfg.MaxRowsPerSource = 1
			cfg.CapStatus = tt.capStatus
			sim := startSim(t, cfg)
			wantStatus(t, postRows(t, sim, "s", rowsWithKeys("a"), nil), http.StatusOK)

			resp := postRows(t, sim, "s", rowsWithKeys("b"), nil)
			wantStatus(t, resp, tt.want)
			wantMessage(t, resp)
			if values := resp.header.Values("Retry-After"); len(values) != 0 {
				t.Errorf("Retry-After = %q, want no header at the lifetime limit", values)
			}
		})
	}
}

func TestConfigUpdateWebhookLimits(t *testing.T) {
	sim := startSim(t, unlimited())
	resp := postConfig(t, sim, `{"max_body_bytes":1000,"max_rows_per_source":2,"cap_status":422}`)
	wantStatus(t, resp, http.StatusOK)
	view := decode[settingsView](t, resp)
	if view.MaxBodyBytes != 1000 || view.MaxRowsPerSource != 2 || view.CapStatus != http.StatusUnprocessableEntity {
		t.Errorf("settings = %+v, want 1000 bytes, 2 rows per source and cap status 422", view)
	}

	steps := []struct {
		name string
		body string
		want int
	}{
		{"body at the new limit", rowOfSize(1000), http.StatusOK},
		{"body one byte over", rowOfSize(1001), http.StatusRequestEntityTooLarge},
		{"second row", rowOfSize(500), http.StatusOK},
		{"third row past the cap", rowOfSize(500), http.StatusUnprocessableEntity},
	}
	for _, step := range steps {
		if got := postRows(t, sim, "s", step.body, nil); got.status != step.want {
			t.Fatalf("%s: status = %d, want %d; body %s", step.name, got.status, step.want, got.body)
		}
	}

	resp = postConfig(t, sim, `{"max_body_bytes":0,"max_rows_per_source":0}`)
	wantStatus(t, resp, http.StatusOK)
	view = decode[settingsView](t, resp)
	if view.MaxBodyBytes != 0 || view.MaxRowsPerSource != 0 {
		t.Errorf("settings = %+v, want 0 (no limit) for both", view)
	}
	wantStatus(t, postRows(t, sim, "s", rowOfSize(3*DefaultMaxBodyBytes), nil), http.StatusOK)
}

func TestUnknownPathIsNotCounted(t *testing.T) {
	sim := startSim(t, unlimited())
	resp := do(t, request{method: http.MethodGet, url: sim.URL() + "/v3/unknown"})
	wantStatus(t, resp, http.StatusNotFound)
	wantMessage(t, resp)
	if got := sim.Stats().RequestsTotal; got != 0 {
		t.Errorf("requests total = %d, want 0", got)
	}
}
