package claysim

import (
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net"
	"net/netip"
	"net/url"
	"strings"
	"syscall"
)

// Row fields that ask for a callback, as claybridge sets them on rows of a
// table configured to call back, and the header that carries the token.
const (
	callbackURLField    = "claybridge_callback_url"
	callbackTokenField  = "claybridge_callback_token"
	callbackTokenHeader = "X-Claybridge-Callback-Token"
)

// errNotLoopback marks a callback address outside the loopback range. The
// simulator calls back only its own host, so that a test or a stray row
// never makes it send requests to another machine.
var errNotLoopback = errors.New("callback host is not a loopback address")

// callback is the POST that Clay's HTTP API column would send for one
// accepted row.
type callback struct {
	key   string
	url   string
	token string
	body  []byte
}

// rowCallback returns the callback that row requests. ok is false when the
// row lacks a non-empty string claybridge_callback_url or
// claybridge_callback_token. err is set when the URL is one that the
// simulator rejects: see checkCallbackURL.
func rowCallback(row map[string]any) (cb callback, ok bool, err error) {
	rawURL, _ := row[callbackURLField].(string)
	token, _ := row[callbackTokenField].(string)
	if rawURL == "" || token == "" {
		return callback{}, false, nil
	}
	if err := checkCallbackURL(rawURL); err != nil {
		return callback{}, true, err
	}
	key, _ := row[rowKeyField].(string)
	body, err := json.Marshal(enrichRow(row, key))
	if err != nil {
		return callback{}, true, fmt.Errorf("failed to encode callback body: %w", err)
	}
	return callback{key: key, url: rawURL, token: token, body: body}, true, nil
}

// enrichRow returns the callback body of row: every column except
// claybridge_callback_token, which goes only in the header, plus fields
// derived from a hash of key. These fields replace row columns of the same
// name.
func enrichRow(row map[string]any, key string) map[string]any {
	body := maps.Clone(row)
	delete(body, callbackTokenField)
	h := hashString("callback", key)
	body["enriched"] = true
	body["company_size"] = 10 + int(h%5000)
	body["title_guess"] = pick(fakeTitles, h, 16)
	return body
}

// checkCallbackURL returns an error unless rawURL is an absolute http or
// https URL whose host is localhost or a loopback IP address. It resolves
// no names, so a rejected URL is never dialled.
func checkCallbackURL(rawURL string) error {
	u, err := url.Parse(rawURL)
	if err != nil {
		return fmt.Errorf("invalid callback URL: %w", err)
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return fmt.Errorf("invalid callback URL %q: the scheme must be http or https", rawURL)
	}
	if !loopbackHost(u.Hostname()) {
		return fmt.Errorf("%w: %q in %q", errNotLoopback, u.Hostname(), rawURL)
	}
	return nil
}

// loopbackHost reports whether host is "localhost" or a loopback IP
// address (127.0.0.0/8 or ::1).
func loopbackHost(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	addr, err := netip.ParseAddr(host)
	return err == nil && addr.IsLoopback()
}

// dialLoopbackOnly is a net.Dialer Control function that rejects a
// connection to any address outside the loopback range. It runs after name
// resolution, so it also covers a "localhost" that resolves elsewhere.
func dialLoopbackOnly(network, address string, _ syscall.RawConn) error {
	host, _, err := net.SplitHostPort(address)
	if err != nil {
		return fmt.Errorf("invalid callback address %q: %w", address, err)
	}
	addr, err := netip.ParseAddr(host)
	if err != nil || !addr.IsLoopback() {
		return fmt.Errorf("%w: %s %s", errNotLoopback, network, address)
	}
	return nil
}
