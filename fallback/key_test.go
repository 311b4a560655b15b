package fallback

import (
	"errors"
	"testing"

	"github.com/claybridge/claybridge/subjects"
)

func TestKeySameForEquivalentJSON(t *testing.T) {
	base := `{"source_type":"people","filters":{"title":"CTO","country":"DE"},"limit":10}`
	cases := []struct {
		name   string
		params string
	}{
		{"members reordered", `{"limit":10,"filters":{"country":"DE","title":"CTO"},"source_type":"people"}`},
		{"whitespace", "{ \"source_type\" : \"people\",\n\t\"filters\": {\"title\": \"CTO\", \"country\": \"DE\"}, \"limit\": 10 }"},
		{"number written as float", `{"source_type":"people","filters":{"title":"CTO","country":"DE"},"limit":10.0}`},
		{"escaped character", `{"source_type":"people","filters":{"title":"\u0043TO","country":"DE"},"limit":10}`},
	}
	want, err := Key(subjects.Search, []byte(base))
	if err != nil {
		t.Fatalf("Key(base): %v", err)
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := Key(subjects.Search, []byte(tc.params))
			if err != nil {
				t.Fatalf("Key: %v", err)
			}
			if got != want {
				t.Errorf("Key = %s, want %s", got, want)
			}
		})
	}
}

func TestKeyDiffersForDifferentRequests(t *testing.T) {
	params := []byte(`{"routine_id":"r1","inputs":{"domain":"example.com"}}`)
	base, err := Key(subjects.Routine, params)
	if err != nil {
		t.Fatalf("Key(base): %v", err)
	}
	cases := []struct {
		name   string
		op     subjects.Operation
		params string
	}{
		{"other operation", subjects.Search, string(params)},
		{"other value", subjects.Routine, `{"routine_id":"r1","inputs":{"domain":"example.org"}}`},
		{"extra member", subjects.Routine, `{"routine_id":"r1","inputs":{"domain":"example.com","x":1}}`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := Key(tc.op, []byte(tc.params))
			if err != nil {
				t.Fatalf("Key: %v", err)
			}
			if got == base {
				t.Errorf("Key = %s, the same as the base request's key", got)
			}
		})
	}
}

func TestKeyValidNotRequestKey(t *testing.T) {
	params := []byte(`{"table":"leads","row":{"email":"a@example.com"}}`)
	key, err := Key(subjects.Row, params)
	if err != nil {
		t.Fatalf("Key: %v", err)
	}
	if err := checkKey(key); err != nil {
		t.Errorf("checkKey(Key(...)) = %v, want nil", err)
	}
	if derived := subjects.DerivedKey(subjects.Row, params); key == derived {
		t.Errorf("Key = DerivedKey = %s, want a key distinct from the request key", key)
	}
}

func TestKeyRejectsInvalidInput(t *testing.T) {
	cases := []struct {
		name   string
		op     subjects.Operation
		params string
	}{
		{"invalid JSON", subjects.Search, `{"limit":`},
		{"empty parameters", subjects.Search, ``},
		{"unknown operation", "lookup", `{}`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Key(tc.op, []byte(tc.params))
			if !errors.Is(err, ErrInvalidInput) {
				t.Errorf("Key error = %v, want ErrInvalidInput", err)
			}
		})
	}
}
