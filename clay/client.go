// Package clay is an HTTP client for Clay's two surfaces: table webhook
// sources, which take rows, and the Public API, which runs routines and
// searches. Every failure is an *Error whose Kind tells the caller whether
// to retry, hold or give up, and whether Clay may already have the request.
package clay

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptrace"
	"net/url"
	"strings"
	"sync/atomic"
	"time"
)

// DefaultBaseURL is the base URL of real Clay, for both surfaces.
const DefaultBaseURL = "https://api.clay.com"

// PublicAPIPath is the Public API's path under the base URL.
const PublicAPIPath = "/public/v0"

// WebhookPathPrefix is the path of table webhook sources under the base URL.
const WebhookPathPrefix = "/v3/sources/webhook/"

// Header names Clay reads.
const (
	HeaderWebhookAuth = "x-clay-webhook-auth"
	HeaderAPIKey      = "clay-api-key"
	// HeaderRequestKey carries claybridge's request key. Clay ignores it;
	// the simulator counts searches by it.
	HeaderRequestKey = "X-Claybridge-Key"
)

// DefaultConnectTimeout bounds dialing Clay and the TLS handshake.
const DefaultConnectTimeout = 5 * time.Second

// MaxBody is the largest request body Clay accepts, in bytes.
const MaxBody = 100 * 1024

// maxResponse bounds how much of a response body is read.
const maxResponse = 64 << 20

// Config configures a Client. The zero value targets real Clay with a
// 5 s connect timeout and no API key.
type Config struct {
	// BaseURL is the scheme and host of Clay, default DefaultBaseURL.
	BaseURL string
	// APIKey is sent in the clay-api-key header on Public API calls.
	APIKey string
	// ConnectTimeout bounds dialing and the TLS handshake, default 5 s.
	ConnectTimeout time.Duration
	// Transport replaces the default transport, for tests.
	Transport http.RoundTripper
}

// Client calls Clay. It is safe for concurrent use. Each call's deadline
// comes from its context.
type Client struct {
	baseURL string
	apiKey  string
	http    *http.Client
	now     func() time.Time

	rateObserver atomic.Pointer[RateLimitObserver]
}

// New returns a client for cfg.
func New(cfg Config) *Client {
	if cfg.BaseURL == "" {
		cfg.BaseURL = DefaultBaseURL
	}
	if cfg.ConnectTimeout <= 0 {
		cfg.ConnectTimeout = DefaultConnectTimeout
	}
	transport := cfg.Transport
	if transport == nil {
		dialer := &net.Dialer{Timeout: cfg.ConnectTimeout, KeepAlive: 30 * time.Second}
		transport = &http.Transport{
			Proxy:               http.ProxyFromEnvironment,
			DialContext:         dialer.DialContext,
			TLSHandshakeTimeout: cfg.ConnectTimeout,
			MaxIdleConns:        256,
			MaxIdleConnsPerHost: 128,
			IdleConnTimeout:     90 * time.Second,
			ForceAttemptHTTP2:   true,
		}
	}
	return &Client{
		baseURL: strings.TrimRight(cfg.BaseURL, "/"),
		apiKey:  cfg.APIKey,
		http:    &http.Client{Transport: transport},
		now:     time.Now,
	}
}

// BaseURL returns the base URL the client targets.
func (c *Client) BaseURL() string { return c.baseURL }

// WebhookURL returns the URL of a webhook source on the client's base URL.
func (c *Client) WebhookURL(source string) string {
	return c.baseURL + WebhookPathPrefix + source
}

// CloseIdleConnections closes idle keep-alive connections.
func (c *Client) CloseIdleConnections() { c.http.CloseIdleConnections() }

// Response is a successful answer: any 2xx, whatever its body.
type Response struct {
	Status int
	Header http.Header
	Body   []byte
}

// JSON returns the body as JSON: the body itself when it is valid JSON,
// else a JSON string of it, or null when empty.
func (r *Response) JSON() json.RawMessage {
	trimmed := bytes.TrimSpace(r.Body)
	if len(trimmed) == 0 {
		return json.RawMessage("null")
	}
	if json.Valid(trimmed) {
		return json.RawMessage(trimmed)
	}
	quoted, _ := json.Marshal(string(trimmed))
	return quoted
}

// call is one HTTP exchange.
type call struct {
	surface string
	op      string
	method  string
	url     string
	body    []byte
	headers map[string]string
}

// do sends a call and sorts its outcome. Any 2xx is success.
func (c *Client) do(ctx context.Context, cl call) (*Response, error) {
	if len(cl.body) > MaxBody {
		return nil, &Error{Op: cl.op, Kind: KindTooLarge,
			Message: fmt.Sprintf("body is %d bytes, over Clay's limit of %d", len(cl.body), MaxBody)}
	}
	var reached bool
	trace := &httptrace.ClientTrace{GotConn: func(httptrace.GotConnInfo) { reached = true }}
	req, err := http.NewRequestWithContext(httptrace.WithClientTrace(ctx, trace), cl.method, cl.url, bytes.NewReader(cl.body))
	if err != nil {
		return nil, &Error{Op: cl.op, Kind: KindRejected, Message: err.Error(), Err: err}
	}
	if cl.body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", "claybridge")
	for name, value := range cl.headers {
		if value != "" {
			req.Header.Set(name, value)
		}
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, c.transportError(ctx, cl.op, reached, err)
	}
	defer resp.Body.Close()
	c.reportRateLimit(cl.surface, resp.Header)
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxResponse))
	if err != nil {
		return nil, c.transportError(ctx, cl.op, true, err)
	}
	if resp.StatusCode >= 200 && resp.StatusCode < 300 {
		return &Response{Status: resp.StatusCode, Header: resp.Header, Body: body}, nil
	}
	return nil, c.statusError(cl.op, resp, body)
}

func (c *Client) transportError(ctx context.Context, op string, reached bool, err error) *Error {
	// A webhook source's URL is a credential, and net/http puts the URL
	// in its errors, so only the cause is kept.
	var urlErr *url.Error
	if errors.As(err, &urlErr) {
		err = urlErr.Err
	}
	kind := KindTransient
	if ctx.Err() != nil {
		kind = KindCanceled
		err = errors.Join(ctx.Err(), err)
	}
	return &Error{Op: op, Kind: kind, MayHaveReached: reached, Message: err.Error(), Err: err}
}

func (c *Client) statusError(op string, resp *http.Response, body []byte) *Error {
	e := &Error{Op: op, Kind: kindOfStatus(resp.StatusCode), Status: resp.StatusCode, MayHaveReached: true}
	e.RetryAfter, e.HasRetryAfter = parseRetryAfter(resp.Header.Get("Retry-After"), c.now())
	var msg struct {
		Message string `json:"message"`
	}
	if json.Unmarshal(body, &msg) == nil && msg.Message != "" {
		e.Message = msg.Message
	} else {
		e.Message = http.StatusText(resp.StatusCode)
	}
	return e
}

// Clay's two surfaces.
const (
	// SurfaceWebhook is table webhook sources.
	SurfaceWebhook = "webhook"
	// SurfacePublicAPI is the Public API: routines, searches and /me.
	SurfacePublicAPI = "public_api"
)
