package sdkcontract

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"
)

// fixture is the part of the emulator's fixture file the suite needs (ids of the project,
// its subnets, servers and packages), so no id is written twice.
type fixture struct {
	ProjectID    string `json:"projectId"`
	ClientID     string `json:"clientId"`
	ClientSecret string `json:"clientSecret"`
	Networks     []struct {
		ID      string `json:"id"`
		Subnets []struct {
			ID     string `json:"id"`
			Cidr   string `json:"cidr"`
			ZoneID string `json:"zoneId"`
		} `json:"subnets"`
	} `json:"networks"`
	Servers []struct {
		ID   string `json:"id"`
		Name string `json:"name"`
	} `json:"servers"`
}

type env struct {
	base string
	fx   fixture
	http *http.Client

	mu    sync.Mutex
	token string
}

var (
	sharedEnv  *env
	sharedOnce sync.Once
	sharedErr  error
)

// emulator returns the environment the suite script set up, or skips nothing: a missing
// emulator is a failure (the suite is only run by the script that starts one).
func emulator(t *testing.T) *env {
	t.Helper()
	sharedOnce.Do(func() {
		base := strings.TrimRight(os.Getenv("VLB_EMULATOR_URL"), "/")
		if base == "" {
			sharedErr = fmt.Errorf("VLB_EMULATOR_URL is not set (run scripts/test.d/60-sdk-contract.sh)")
			return
		}
		path := os.Getenv("VLB_FIXTURE")
		if path == "" {
			path = "../../crates/vngcloud-emulator/fixtures/default.json"
		}
		raw, err := os.ReadFile(path)
		if err != nil {
			sharedErr = err
			return
		}
		var fx fixture
		if err := json.Unmarshal(raw, &fx); err != nil {
			sharedErr = err
			return
		}
		sharedEnv = &env{base: base, fx: fx, http: &http.Client{Timeout: 10 * time.Second}}
	})
	if sharedErr != nil {
		t.Fatalf("emulator: %v", sharedErr)
	}
	return sharedEnv
}

func (e *env) zone() string   { return e.fx.Networks[0].Subnets[0].ZoneID }
func (e *env) subnet() string { return e.fx.Networks[0].Subnets[0].ID }
func (e *env) network() string {
	return e.fx.Networks[0].ID
}

// login asks IAM for a token as identity/v2/identity.go GetAccessToken does: Basic auth, a
// JSON body under a form content type, ok code 200.
func (e *env) login(secret string) (int, []byte, error) {
	body := []byte(`{"grant_type":"client_credentials"}`)
	req, err := http.NewRequest(http.MethodPost, e.base+"/accounts-api/v2/auth/token", bytes.NewReader(body))
	if err != nil {
		return 0, nil, err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Authorization", "Basic "+base64.StdEncoding.EncodeToString([]byte(e.fx.ClientID+":"+secret)))
	resp, err := e.http.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	return resp.StatusCode, raw, err
}

func (e *env) bearer(t *testing.T) string {
	t.Helper()
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.token != "" {
		return e.token
	}
	status, raw, err := e.login(e.fx.ClientSecret)
	if err != nil || status != http.StatusOK {
		t.Fatalf("token: %d %s %v", status, raw, err)
	}
	var tok getAccessTokenResponse
	if err := json.Unmarshal(raw, &tok); err != nil {
		t.Fatalf("token answer: %v", err)
	}
	e.token = tok.AccessToken
	return e.token
}

// call sends one request to {base}/{gateway}/v2/{projectId}/{path} (path may carry a
// query) with a JSON body, as the SDK's client does, and returns the status and body.
func (e *env) call(t *testing.T, method, gateway, path string, body any) (int, []byte) {
	t.Helper()
	var reader io.Reader
	if body != nil {
		raw, err := json.Marshal(body)
		if err != nil {
			t.Fatalf("marshal: %v", err)
		}
		reader = bytes.NewReader(raw)
	}
	url := fmt.Sprintf("%s/%s/v2/%s/%s", e.base, gateway, e.fx.ProjectID, path)
	req, err := http.NewRequest(method, url, reader)
	if err != nil {
		t.Fatalf("request: %v", err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+e.bearer(t))
	req.Header.Set("User-Agent", "vlb-sdk-contract")
	resp, err := e.http.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s %s: read: %v", method, path, err)
	}
	return resp.StatusCode, raw
}

// ok sends a call and fails unless the status is the SDK's ok code; decodes into out.
func (e *env) ok(t *testing.T, okCode int, method, gateway, path string, body, out any) []byte {
	t.Helper()
	status, raw := e.call(t, method, gateway, path, body)
	if status != okCode {
		t.Fatalf("%s %s: status %d, the SDK expects %d: %s", method, path, status, okCode, raw)
	}
	if out != nil {
		if err := json.Unmarshal(raw, out); err != nil {
			t.Fatalf("%s %s: decode: %v: %s", method, path, err, raw)
		}
	}
	return raw
}

// refused sends a call that must fail with status and a message containing text; returns it.
func (e *env) refused(t *testing.T, status int, text, method, gateway, path string, body any) string {
	t.Helper()
	got, raw := e.call(t, method, gateway, path, body)
	var m normalErrorResponse
	_ = json.Unmarshal(raw, &m)
	if got != status || !strings.Contains(strings.ToLower(m.Message), strings.ToLower(text)) {
		t.Fatalf("%s %s: want %d %q, got %d %s", method, path, status, text, got, raw)
	}
	return m.Message
}

func (e *env) vlb(t *testing.T, okCode int, method, path string, body, out any) []byte {
	t.Helper()
	return e.ok(t, okCode, method, "vlb-gateway", path, body, out)
}

func (e *env) vserver(t *testing.T, okCode int, method, path string, body, out any) []byte {
	t.Helper()
	return e.ok(t, okCode, method, "vserver-gateway", path, body, out)
}

// waitActive polls GET loadBalancers/{id} (as the Go controller's waitLoadBalancerReady)
// until ACTIVE, with a deadline.
func (e *env) waitActive(t *testing.T, id string) loadBalancer {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		var got getLoadBalancerByIdResponse
		raw := e.vlb(t, 200, http.MethodGet, "loadBalancers/"+id, nil, &got)
		if got.Data.DisplayStatus == "ACTIVE" {
			requireFields(t, "GET loadBalancers/{id}", raw, getLoadBalancerByIdResponse{})
			return got.Data
		}
		if got.Data.DisplayStatus == "ERROR" {
			t.Fatalf("load balancer %s went to ERROR", id)
		}
		if time.Now().After(deadline) {
			t.Fatalf("load balancer %s not ACTIVE after 20s: %s", id, got.Data.DisplayStatus)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// requireFields fails unless every field of the SDK struct `shape` (its JSON names, nested
// structs and the first element of slices included) is present in the JSON answer `raw`;
// fields the SDK tags `omitempty` may be absent.
func requireFields(t *testing.T, what string, raw []byte, shape any) {
	t.Helper()
	var v any
	if err := json.Unmarshal(raw, &v); err != nil {
		t.Fatalf("%s: not JSON: %v", what, err)
	}
	var missing []string
	walkFields(reflect.TypeOf(shape), v, "", &missing)
	if len(missing) > 0 {
		t.Errorf("%s: the answer lacks SDK fields %v", what, missing)
	}
}

func walkFields(typ reflect.Type, v any, at string, missing *[]string) {
	for typ.Kind() == reflect.Pointer {
		typ = typ.Elem()
	}
	switch typ.Kind() {
	case reflect.Struct:
		obj, ok := v.(map[string]any)
		if !ok {
			if v != nil {
				*missing = append(*missing, at+" (not an object)")
			}
			return
		}
		for i := 0; i < typ.NumField(); i++ {
			f := typ.Field(i)
			tag := f.Tag.Get("json")
			if tag == "" || tag == "-" {
				continue
			}
			name, opts, _ := strings.Cut(tag, ",")
			val, present := obj[name]
			if !present {
				if !strings.Contains(opts, "omitempty") {
					*missing = append(*missing, at+"."+name)
				}
				continue
			}
			walkFields(f.Type, val, at+"."+name, missing)
		}
	case reflect.Slice:
		if arr, ok := v.([]any); ok && len(arr) > 0 {
			for i, item := range arr {
				walkFields(typ.Elem(), item, fmt.Sprintf("%s[%d]", at, i), missing)
			}
		}
	}
}

// The field check itself: a missing required field is reported, an omitempty one is not, and
// nested objects and list items are checked.
func TestRequireFieldsReportsMissingSDKFields(t *testing.T) {
	type inner struct {
		A string `json:"a"`
		B string `json:"b,omitempty"`
	}
	type outer struct {
		X     int     `json:"x"`
		In    inner   `json:"in"`
		Items []inner `json:"items"`
	}
	var v any
	if err := json.Unmarshal([]byte(`{"x":1,"in":{},"items":[{"a":"1"},{"b":"2"}]}`), &v); err != nil {
		t.Fatal(err)
	}
	var missing []string
	walkFields(reflect.TypeOf(outer{}), v, "", &missing)
	want := []string{".in.a", ".items[1].a"}
	if fmt.Sprint(missing) != fmt.Sprint(want) {
		t.Fatalf("missing %v, want %v", missing, want)
	}
}
