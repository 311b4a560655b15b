package claysim

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"reflect"
	"slices"
	"sync"
	"testing"
	"time"
)

// receivedCallback is one request that a callbackReceiver got.
type receivedCallback struct {
	at          time.Time
	path        string
	token       string
	contentType string
	rawBody     []byte
	status      int
}

// callbackReceiver is an HTTP server on 127.0.0.1 that records the
// callbacks it gets. By default it responds with 200 when the token header
// is wantToken and 401 otherwise.
type callbackReceiver struct {
	server    *httptest.Server
	wantToken string

	mu       sync.Mutex
	received []receivedCallback
	// status, when set, returns the status of the n-th request, from 1.
	status func(n int) int
}

func newCallbackReceiver(t *testing.T, wantToken string, status func(n int) int) *callbackReceiver {
	t.Helper()
	rc := &callbackReceiver{wantToken: wantToken, status: status}
	rc.server = httptest.NewServer(http.HandlerFunc(rc.serve))
	t.Cleanup(rc.server.Close)
	return rc
}

func (rc *callbackReceiver) serve(w http.ResponseWriter, r *http.Request) {
	var body bytes.Buffer
	_, _ = body.ReadFrom(r.Body)
	got := receivedCallback{
		at:          time.Now(),
		path:        r.URL.Path,
		token:       r.Header.Get(callbackTokenHeader),
		contentType: r.Header.Get("Content-Type"),
		rawBody:     body.Bytes(),
		status:      http.StatusOK,
	}
	rc.mu.Lock()
	switch {
	case rc.status != nil:
		got.status = rc.status(len(rc.received) + 1)
	case got.token != rc.wantToken:
		got.status = http.StatusUnauthorized
	}
	rc.received = append(rc.received, got)
	rc.mu.Unlock()
	w.WriteHeader(got.status)
}

func (rc *callbackReceiver) all() []receivedCallback {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return slices.Clone(rc.received)
}

func (rc *callbackReceiver) count() int {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return len(rc.received)
}

// callbackRow returns a webhook row that requests a callback to url.
func callbackRow(key, url string) map[string]any {
	return map[string]any{
		rowKeyField:        key,
		"email":            key + "@example.com",
		callbackURLField:   url,
		callbackTokenField: "token-" + key,
	}
}

// fastCallbacks returns a config that calls back after 1ms and retries
// after 1ms.
func fastCallbacks(mode string) Config {
	cfg := unlimited()
	cfg.CallbackMode = mode
	cfg.CallbackDelay = time.Millisecond
	cfg.CallbackRetryBackoff = time.Millisecond
	return cfg
}

// closeSim closes sim so that no callback is still running when the test
// counts them.
func closeSim(t *testing.T, sim *Running) {
	t.Helper()
	if err := sim.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
}

func TestCallbackModes(t *testing.T) {
	const lateDelay = 150 * time.Millisecond
	tests := []struct {
		mode         string
		wantTokens   []string
		wantSent     int
		wantMinDelay time.Duration
	}{
		{CallbackNormal, []string{"token-k1"}, 1, 0},
		{CallbackDuplicate, []string{"token-k1", "token-k1"}, 2, 0},
		{CallbackLate, []string{"token-k1"}, 1, lateDelay},
		{CallbackErrorThenRetry, []string{"invalid-token-k1", "token-k1"}, 1, 0},
	}
	for _, tt := range tests {
		t.Run(tt.mode, func(t *testing.T) {
			receiver := newCallbackReceiver(t, "token-k1", nil)
			cfg := fastCallbacks(tt.mode)
			cfg.CallbackLateDelay = lateDelay
			sim := startSim(t, cfg)

			url := receiver.server.URL + "/callbacks/k1"
			posted := time.Now()
			wantStatus(t, postRows(t, sim, "s", []map[string]any{callbackRow("k1", url)}, nil), http.StatusOK)
			waitFor(t, 5*time.Second, "the callbacks", func() bool { return sim.Stats().CallbacksSent == tt.wantSent })
			closeSim(t, sim)

			received := receiver.all()
			var tokens []string
			for _, cb := range received {
				tokens = append(tokens, cb.token)
				if cb.path != "/callbacks/k1" {
					t.Errorf("callback path = %q, want /callbacks/k1", cb.path)
				}
				if cb.contentType != "application/json" {
					t.Errorf("callback Content-Type = %q, want application/json", cb.contentType)
				}
				if !bytes.Equal(cb.rawBody, received[0].rawBody) {
					t.Errorf("callback bodies differ: %s and %s", cb.rawBody, received[0].rawBody)
				}
			}
			if !reflect.DeepEqual(tokens, tt.wantTokens) {
				t.Errorf("callback tokens = %q, want %q", tokens, tt.wantTokens)
			}
			if waited := received[0].at.Sub(posted); waited < tt.wantMinDelay {
				t.Errorf("first callback came %v after the row, want at least %v", waited, tt.wantMinDelay)
			}
			wantCallbackBody(t, received[len(received)-1].rawBody, "k1", url)

			stats := sim.Stats()
			if got := stats.CallbacksByKey["k1"]; got != len(tt.wantTokens) {
				t.Errorf("callback attempts of k1 = %d, want %d", got, len(tt.wantTokens))
			}
			if stats.CallbacksFailed != 0 || stats.CallbacksRefused != 0 {
				t.Errorf("callbacks failed = %d, refused = %d, want 0 and 0", stats.CallbacksFailed, stats.CallbacksRefused)
			}
		})
	}
}

// wantCallbackBody checks that body is the row of callbackRow(key, url)
// without its token, plus the enriched fields.
func wantCallbackBody(t *testing.T, raw []byte, key, url string) {
	t.Helper()
	var body map[string]any
	decoder := json.NewDecoder(bytes.NewReader(raw))
	decoder.UseNumber()
	if err := decoder.Decode(&body); err != nil {
		t.Fatalf("callback body %s is not a JSON object: %v", raw, err)
	}
	wantFields := map[string]any{
		rowKeyField:      key,
		"email":          key + "@example.com",
		callbackURLField: url,
		"enriched":       true,
	}
	for name, want := range wantFields {
		if body[name] != want {
			t.Errorf("callback body %s = %v, want %v", name, body[name], want)
		}
	}
	if _, ok := body[callbackTokenField]; ok {
		t.Errorf("callback body contains %s, want the token only in the header", callbackTokenField)
	}
	size, err := body["company_size"].(json.Number).Int64()
	if err != nil || size < 10 || size >= 5010 {
		t.Errorf("callback body company_size = %v, want a whole number from 10 to 5009", body["company_size"])
	}
	if title, _ := body["title_guess"].(string); !slices.Contains(fakeTitles, title) {
		t.Errorf("callback body title_guess = %v, want one of the generated titles", body["title_guess"])
	}
}

func TestCallbackModeNoneSendsNothing(t *testing.T) {
	receiver := newCallbackReceiver(t, "token-after", nil)
	cfg := fastCallbacks(CallbackNone)
	cfg.CallbackDelay = -1
	sim := startSim(t, cfg)
	url := receiver.server.URL + "/cb"

	wantStatus(t, postRows(t, sim, "s", []map[string]any{callbackRow("before", url)}, nil), http.StatusOK)
	wantStatus(t, postConfig(t, sim, `{"callback_mode":"normal"}`), http.StatusOK)
	wantStatus(t, postRows(t, sim, "s", []map[string]any{callbackRow("after", url)}, nil), http.StatusOK)
	waitFor(t, 5*time.Second, "the callback of the row after the mode change", func() bool {
		return sim.Stats().CallbacksSent == 1
	})
	closeSim(t, sim)

	if got := receiver.count(); got != 1 {
		t.Errorf("callbacks received = %d, want 1", got)
	}
	if got, ok := sim.Stats().CallbacksByKey["before"]; ok {
		t.Errorf("callback attempts of the row sent in mode none = %d, want none", got)
	}
}

func TestCallbackRetries(t *testing.T) {
	tests := []struct {
		name         string
		retries      int
		status       func(n int) int
		wantAttempts int
		wantSent     int
		wantFailed   int
	}{
		{
			name:    "5xx then success",
			retries: 3,
			status: func(n int) int {
				if n <= 2 {
					return http.StatusServiceUnavailable
				}
				return http.StatusOK
			},
			wantAttempts: 3, wantSent: 1,
		},
		{
			name:         "always 500",
			retries:      2,
			status:       func(int) int { return http.StatusInternalServerError },
			wantAttempts: 3, wantFailed: 1,
		},
		{
			name:         "retries disabled",
			retries:      -1,
			status:       func(int) int { return http.StatusBadGateway },
			wantAttempts: 1, wantFailed: 1,
		},
		{
			name:         "redirect is not followed",
			retries:      1,
			status:       func(int) int { return http.StatusTemporaryRedirect },
			wantAttempts: 2, wantFailed: 1,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			receiver := newCallbackReceiver(t, "token-k1", tt.status)
			cfg := fastCallbacks(CallbackNormal)
			cfg.CallbackRetries = tt.retries
			sim := startSim(t, cfg)

			wantStatus(t, postRows(t, sim, "s", []map[string]any{callbackRow("k1", receiver.server.URL+"/cb")}, nil), http.StatusOK)
			waitFor(t, 5*time.Second, "the callback outcome", func() bool {
				stats := sim.Stats()
				return stats.CallbacksSent+stats.CallbacksFailed == 1
			})
			closeSim(t, sim)

			stats := sim.Stats()
			if got := receiver.count(); got != tt.wantAttempts {
				t.Errorf("callbacks received = %d, want %d", got, tt.wantAttempts)
			}
			if got := stats.CallbacksByKey["k1"]; got != tt.wantAttempts {
				t.Errorf("callback attempts of k1 = %d, want %d", got, tt.wantAttempts)
			}
			if stats.CallbacksSent != tt.wantSent {
				t.Errorf("callbacks sent = %d, want %d", stats.CallbacksSent, tt.wantSent)
			}
			if stats.CallbacksFailed != tt.wantFailed {
				t.Errorf("callbacks failed = %d, want %d", stats.CallbacksFailed, tt.wantFailed)
			}
		})
	}
}

func TestCallbackConnectionErrorIsRetried(t *testing.T) {
	listener, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("Listen: %v", err)
	}
	closedURL := "http://" + listener.Addr().String() + "/cb"
	listener.Close()

	cfg := fastCallbacks(CallbackNormal)
	cfg.CallbackRetries = 2
	sim := startSim(t, cfg)
	wantStatus(t, postRows(t, sim, "s", []map[string]any{callbackRow("k1", closedURL)}, nil), http.StatusOK)
	waitFor(t, 5*time.Second, "the callback to fail", func() bool { return sim.Stats().CallbacksFailed == 1 })

	if got := sim.Stats().CallbacksByKey["k1"]; got != 3 {
		t.Errorf("callback attempts of k1 = %d, want 3", got)
	}
}

func TestCallbackRejectsNonLoopbackURL(t *testing.T) {
	receiver := newCallbackReceiver(t, "token-good", nil)
	sim := startSim(t, fastCallbacks(CallbackNormal))
	// Every address below is reserved for documentation or can never
	// resolve, and the simulator rejects them before any dial.
	refused := []string{
		"http://192.0.2.1/cb",
		"https://[2001:db8::1]:8443/cb",
		"http://claybridge.invalid/cb",
		"http://localhost.claybridge.invalid/cb",
		"http://127.0.0.1@192.0.2.1/cb",
		"http://0.0.0.0/cb",
		"ftp://127.0.0.1/cb",
		"/cb",
	}
	rows := []map[string]any{callbackRow("good", receiver.server.URL+"/cb")}
	for i, url := range refused {
		rows = append(rows, callbackRow("refused-"+string(rune('a'+i)), url))
	}

	wantStatus(t, postRows(t, sim, "s", rows, nil), http.StatusOK)
	if got := sim.Stats().CallbacksRefused; got != len(refused) {
		t.Errorf("callbacks refused right after the webhook response = %d, want %d", got, len(refused))
	}
	waitFor(t, 5*time.Second, "the loopback callback", func() bool { return sim.Stats().CallbacksSent == 1 })
	closeSim(t, sim)

	stats := sim.Stats()
	wantByKey := map[string]int{"good": 1}
	if !reflect.DeepEqual(stats.CallbacksByKey, wantByKey) {
		t.Errorf("callback attempts by key = %v, want %v: a rejected URL must never be tried", stats.CallbacksByKey, wantByKey)
	}
	if stats.CallbacksFailed != 0 {
		t.Errorf("callbacks failed = %d, want 0", stats.CallbacksFailed)
	}
}

func TestCheckCallbackURL(t *testing.T) {
	tests := []struct {
		url         string
		wantErr     bool
		notLoopback bool
	}{
		{"http://127.0.0.1:8080/cb", false, false},
		{"http://127.10.20.30/cb", false, false},
		{"http://[::1]:9000/cb", false, false},
		{"https://localhost/cb", false, false},
		{"http://LOCALHOST:1/cb", false, false},
		{"http://192.0.2.1/cb", true, true},
		{"http://[2001:db8::1]/cb", true, true},
		{"http://0.0.0.0/cb", true, true},
		{"http://claybridge.invalid/cb", true, true},
		{"http://localhost.claybridge.invalid/cb", true, true},
		{"http://127.0.0.1@192.0.2.1/cb", true, true},
		{"ftp://127.0.0.1/cb", true, false},
		{"/relative/cb", true, false},
		{"http://[::1/cb", true, false},
	}
	for _, tt := range tests {
		t.Run(tt.url, func(t *testing.T) {
			err := checkCallbackURL(tt.url)
			if (err != nil) != tt.wantErr {
				t.Fatalf("checkCallbackURL(%q) = %v, want error %v", tt.url, err, tt.wantErr)
			}
			if got := errors.Is(err, errNotLoopback); got != tt.notLoopback {
				t.Errorf("checkCallbackURL(%q) = %v, want errNotLoopback %v", tt.url, err, tt.notLoopback)
			}
		})
	}
}

func TestDialLoopbackOnly(t *testing.T) {
	tests := []struct {
		address string
		wantErr bool
	}{
		{"127.0.0.1:80", false},
		{"127.255.0.1:80", false},
		{"[::1]:80", false},
		{"192.0.2.1:80", true},
		{"[2001:db8::1]:80", true},
		{"0.0.0.0:80", true},
		{"no-port", true},
	}
	for _, tt := range tests {
		t.Run(tt.address, func(t *testing.T) {
			err := dialLoopbackOnly("tcp", tt.address, nil)
			if (err != nil) != tt.wantErr {
				t.Errorf("dialLoopbackOnly(%q) = %v, want error %v", tt.address, err, tt.wantErr)
			}
		})
	}
}

func TestRowCallbackNeedsURLAndToken(t *testing.T) {
	const url = "http://127.0.0.1:1/cb"
	tests := []struct {
		name string
		row  map[string]any
		want bool
	}{
		{"both", map[string]any{callbackURLField: url, callbackTokenField: "t"}, true},
		{"no token", map[string]any{callbackURLField: url}, false},
		{"no URL", map[string]any{callbackTokenField: "t"}, false},
		{"empty token", map[string]any{callbackURLField: url, callbackTokenField: ""}, false},
		{"token not a string", map[string]any{callbackURLField: url, callbackTokenField: 7}, false},
		{"URL not a string", map[string]any{callbackURLField: true, callbackTokenField: "t"}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, ok, err := rowCallback(tt.row)
			if ok != tt.want || err != nil {
				t.Errorf("rowCallback(%v) = ok %v, error %v, want ok %v and no error", tt.row, ok, err, tt.want)
			}
		})
	}
}

func TestEnrichRowIsDeterministic(t *testing.T) {
	var row map[string]any
	decoder := json.NewDecoder(bytes.NewReader([]byte(`{"claybridge_key":"k1","id":12345678901234567890,"claybridge_callback_token":"t"}`)))
	decoder.UseNumber()
	if err := decoder.Decode(&row); err != nil {
		t.Fatalf("decode: %v", err)
	}
	first, err := json.Marshal(enrichRow(row, "k1"))
	if err != nil {
		t.Fatalf("Marshal: %v", err)
	}
	second, _ := json.Marshal(enrichRow(row, "k1"))
	if !bytes.Equal(first, second) {
		t.Errorf("enriched bodies of one key differ: %s and %s", first, second)
	}
	if !bytes.Contains(first, []byte(`"id":12345678901234567890`)) {
		t.Errorf("enriched body %s changed the number 12345678901234567890", first)
	}
	if _, ok := row["enriched"]; ok {
		t.Error("enrichRow changed the row it was given")
	}
}

func TestCallbacksOnlyForAcceptedRows(t *testing.T) {
	receiver := newCallbackReceiver(t, "token-accepted", nil)
	cfg := fastCallbacks(CallbackNormal)
	cfg.CallbackDelay = -1
	cfg.WebhookToken = "webhook-secret"
	sim := startSim(t, cfg)
	url := receiver.server.URL + "/cb"

	wantStatus(t, postRows(t, sim, "s", []map[string]any{callbackRow("rejected", url)}, nil), http.StatusUnauthorized)
	wantStatus(t, postRows(t, sim, "s", []map[string]any{callbackRow("accepted", url)},
		map[string]string{webhookAuthHeader: "webhook-secret"}), http.StatusOK)
	waitFor(t, 5*time.Second, "the accepted row's callback", func() bool { return sim.Stats().CallbacksSent == 1 })
	closeSim(t, sim)

	wantByKey := map[string]int{"accepted": 1}
	if got := sim.Stats().CallbacksByKey; !reflect.DeepEqual(got, wantByKey) {
		t.Errorf("callback attempts by key = %v, want %v", got, wantByKey)
	}
}

func TestCloseCancelsPendingCallbacks(t *testing.T) {
	receiver := newCallbackReceiver(t, "token-k1", nil)
	cfg := unlimited()
	cfg.CallbackDelay = time.Minute
	sim := startSim(t, cfg)
	wantStatus(t, postRows(t, sim, "s", []map[string]any{callbackRow("k1", receiver.server.URL+"/cb")}, nil), http.StatusOK)

	start := time.Now()
	closeSim(t, sim)
	if elapsed := time.Since(start); elapsed > 5*time.Second {
		t.Errorf("Close took %v with a callback pending for 1m, want it to cancel the callback", elapsed)
	}
	stats := sim.Stats()
	if got := receiver.count(); got != 0 {
		t.Errorf("callbacks received = %d, want 0", got)
	}
	if stats.CallbacksSent != 0 || stats.CallbacksFailed != 0 || len(stats.CallbacksByKey) != 0 {
		t.Errorf("callback stats = sent %d, failed %d, by key %v, want none", stats.CallbacksSent, stats.CallbacksFailed, stats.CallbacksByKey)
	}
}

func TestCloseCancelsInFlightCallback(t *testing.T) {
	arrived := make(chan struct{})
	cancelled := make(chan struct{})
	release := make(chan struct{})
	receiver := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// The server notices a closed connection only once the body has
		// been read.
		_, _ = io.Copy(io.Discard, r.Body)
		close(arrived)
		select {
		case <-r.Context().Done():
			close(cancelled)
		case <-release:
		}
	}))
	t.Cleanup(receiver.Close)
	t.Cleanup(func() { close(release) })

	cfg := unlimited()
	cfg.CallbackDelay = -1
	sim := startSim(t, cfg)
	wantStatus(t, postRows(t, sim, "s", []map[string]any{callbackRow("k1", receiver.URL+"/cb")}, nil), http.StatusOK)
	select {
	case <-arrived:
	case <-time.After(5 * time.Second):
		t.Fatal("callback did not arrive within 5s")
	}

	closeSim(t, sim)
	select {
	case <-cancelled:
	case <-time.After(5 * time.Second):
		t.Fatal("receiver still waiting 5s after Close, want the callback request cancelled")
	}
	if stats := sim.Stats(); stats.CallbacksSent != 0 || stats.CallbacksFailed != 0 {
		t.Errorf("callbacks sent = %d, failed = %d, want 0 and 0 for a cancelled callback", stats.CallbacksSent, stats.CallbacksFailed)
	}
}

func TestServerCloseStopsNewCallbacks(t *testing.T) {
	receiver := newCallbackReceiver(t, "token-k1", nil)
	cfg := unlimited()
	cfg.CallbackDelay = -1
	server := New(cfg)
	front := httptest.NewServer(server)
	t.Cleanup(front.Close)
	if err := server.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}

	resp := do(t, request{method: http.MethodPost, url: front.URL + "/v3/sources/webhook/s",
		body: []map[string]any{callbackRow("k1", receiver.server.URL+"/cb")}})
	wantStatus(t, resp, http.StatusOK)
	// No callback goroutine starts after Close, so nothing can arrive
	// later.
	if got := server.Stats().CallbacksByKey; len(got) != 0 {
		t.Errorf("callback attempts after Close = %v, want none", got)
	}
}

func TestCallbackConfigUpdate(t *testing.T) {
	sim := startSim(t, unlimited())
	resp := postConfig(t, sim, `{"callback_mode":"late","callback_delay":"0s","callback_late_delay":"20ms",`+
		`"callback_retries":0,"callback_retry_backoff":"5ms"}`)
	wantStatus(t, resp, http.StatusOK)
	view := decode[settingsView](t, resp)
	want := settingsView{CallbackMode: CallbackLate, CallbackDelay: "0s", CallbackLateDelay: "20ms",
		CallbackRetries: 0, CallbackRetryBackoff: "5ms"}
	got := settingsView{CallbackMode: view.CallbackMode, CallbackDelay: view.CallbackDelay,
		CallbackLateDelay: view.CallbackLateDelay, CallbackRetries: view.CallbackRetries,
		CallbackRetryBackoff: view.CallbackRetryBackoff}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("callback settings = %+v, want %+v", got, want)
	}

	receiver := newCallbackReceiver(t, "", func(int) int { return http.StatusInternalServerError })
	wantStatus(t, postRows(t, sim, "s", []map[string]any{callbackRow("k1", receiver.server.URL+"/cb")}, nil), http.StatusOK)
	waitFor(t, 5*time.Second, "the callback to fail", func() bool { return sim.Stats().CallbacksFailed == 1 })
	if got := sim.Stats().CallbacksByKey["k1"]; got != 1 {
		t.Errorf("callback attempts with retries 0 = %d, want 1", got)
	}
}
