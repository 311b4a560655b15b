package callback_test

import (
	"testing"

	"github.com/claybridge/claybridge/callback"
)

func TestValidToken(t *testing.T) {
	secret := []byte("0123456789abcdef0123")
	token := callback.Token(secret, "lead-42")
	cases := []struct {
		name  string
		key   string
		token string
		want  bool
	}{
		{name: "own token", key: "lead-42", token: token, want: true},
		{name: "empty", key: "lead-42", token: "", want: false},
		{name: "other key", key: "lead-43", token: token, want: false},
		{name: "other secret", key: "lead-42", token: callback.Token([]byte("fedcba9876543210fedc"), "lead-42"), want: false},
		{name: "not hex", key: "lead-42", token: "zz" + token[2:], want: false},
		{name: "truncated", key: "lead-42", token: token[:32], want: false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := callback.ValidToken(secret, tc.key, tc.token); got != tc.want {
				t.Errorf("ValidToken = %v, want %v", got, tc.want)
			}
		})
	}
}

func TestURLEscapesKey(t *testing.T) {
	got := callback.URL("https://hooks.example.com/", "lead/42 a")
	want := "https://hooks.example.com/v1/callbacks/lead%2F42%20a"
	if got != want {
		t.Errorf("URL = %s, want %s", got, want)
	}
}
