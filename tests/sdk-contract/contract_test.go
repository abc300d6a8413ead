package sdkcontract

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"
)

// The calls follow the Go controller's internal/repository/vngcloud_repo (vngcloud_loadbalancer.go,
// vngcloud_listener.go, vngcloud_pool.go, vngcloud_policy.go, vngcloud_certificate.go,
// vngcloud_tags.go, vngcloud_secgroup.go, vngcloud_server.go) through the SDK's url.go paths
// and ok codes.

func unique(prefix string) string {
	return fmt.Sprintf("%s-%d", prefix, time.Now().UnixNano()%1_000_000_000)
}

func TestIAMTokenHasTheSDKShapeAndABadSecretIsAuthenticationFailed(t *testing.T) {
	e := emulator(t)
	status, raw, err := e.login(e.fx.ClientSecret)
	if err != nil || status != 200 {
		t.Fatalf("token: %d %s %v", status, raw, err)
	}
	requireFields(t, "POST auth/token", raw, getAccessTokenResponse{})
	var tok getAccessTokenResponse
	if err := json.Unmarshal(raw, &tok); err != nil || tok.AccessToken == "" || tok.ExpiresIn <= 0 {
		t.Fatalf("token answer %s: %v", raw, err)
	}
	status, raw, err = e.login("wrong-secret")
	if err != nil || status != 401 {
		t.Fatalf("bad secret: %d %s %v", status, raw, err)
	}
	var iam iamErrorResponse
	if err := json.Unmarshal(raw, &iam); err != nil || len(iam.Errors) == 0 || iam.Errors[0].Code != "AUTHENTICATION_FAILED" {
		t.Fatalf("bad secret answer %s: %v", raw, err)
	}
	// A good login resets the failure count (so this test never locks the client out).
	if status, raw, _ := e.login(e.fx.ClientSecret); status != 200 {
		t.Fatalf("token after one failure: %d %s", status, raw)
	}
}

// packageNamed lists the zone's packages (ListLoadBalancerPackages, `?zoneId=`) and picks one
// by name, as lbc_uc/deploy_lb.go does with defaultL4PackageName / defaultL7PackageName.
func packageNamed(t *testing.T, e *env, name, lbType string) loadBalancerPackage {
	t.Helper()
	var pk listLoadBalancerPackagesResponse
	raw := e.vlb(t, 200, http.MethodGet, "loadBalancers/packages?zoneId="+e.zone(), nil, &pk)
	requireFields(t, "GET loadBalancers/packages", raw, pk)
	for _, p := range pk.ListData {
		if p.Name == name && strings.EqualFold(p.DisplayLbType, lbType) {
			return p
		}
	}
	t.Fatalf("no package %s (%s) in zone %s: %s", name, lbType, e.zone(), raw)
	return loadBalancerPackage{}
}

func TestNetworkLoadBalancerAsTheGoControllerDrivesIt(t *testing.T) {
	e := emulator(t)
	small := packageNamed(t, e, "NLB_Small", "Layer 4")
	name := unique("sdk-nlb")
	cluster := unique("cluster")
	zone := e.zone()
	create := createLoadBalancerRequest{
		Name: name, PackageID: small.UUID, Scheme: "Internal", SubnetID: e.subnet(), Type: "Layer 4",
		Listener: &createListenerRequest{AllowedCidrs: "0.0.0.0/0", ListenerName: "tcp-80", ListenerProtocol: "TCP",
			ListenerProtocolPort: 80, TimeoutClient: 50, TimeoutConnection: 5, TimeoutMember: 50},
		Pool: &createPoolRequest{Algorithm: "ROUND_ROBIN", PoolName: "web", PoolProtocol: "TCP", HealthMonitor: tcpHealthMonitor(),
			Members: []memberRequest{{IpAddress: "10.76.0.11", MonitorPort: 30080, Name: "worker-1", Port: 30080, Weight: 1}}},
		Tags:   []tag{{Key: "vks-cluster-id", Value: cluster}},
		ZoneId: &zone,
	}
	var created uuidResponse
	e.vlb(t, 202, http.MethodPost, "loadBalancers", create, &created)
	lb := e.waitActive(t, created.UUID)
	if lb.Name != name || lb.PackageID != small.UUID || strings.ToUpper(lb.LoadBalancerSchema) != "INTERNAL" || lb.Zone.UUID != zone {
		t.Fatalf("created load balancer reads %+v", lb)
	}

	// ListLoadBalancers as vngcloud_loadbalancer.go: offset 0, size 1000, the tag filter raw.
	var list listLoadBalancersResponse
	raw := e.vlb(t, 200, http.MethodGet, "loadBalancers?name=&page=0&size=1000&tags=key:vks-cluster-id,value:"+cluster, nil, &list)
	requireFields(t, "GET loadBalancers", raw, list)
	if len(list.ListData) != 1 || list.ListData[0].UUID != lb.UUID {
		t.Fatalf("list by tag: %s", raw)
	}

	base := "loadBalancers/" + lb.UUID
	var listeners listListenersResponse
	raw = e.vlb(t, 200, http.MethodGet, base+"/listeners", nil, &listeners)
	requireFields(t, "GET listeners", raw, listeners)
	var pools listPoolsResponse
	raw = e.vlb(t, 200, http.MethodGet, base+"/pools", nil, &pools)
	requireFields(t, "GET pools", raw, pools)
	if len(listeners.Data) != 1 || len(pools.Data) != 1 || listeners.Data[0].DefaultPoolId != pools.Data[0].UUID {
		t.Fatalf("inline listener and pool: %+v %+v", listeners.Data, pools.Data)
	}
	lis, web := listeners.Data[0], pools.Data[0]
	var one getListenerByIdResponse
	raw = e.vlb(t, 200, http.MethodGet, base+"/listeners/"+lis.UUID, nil, &one)
	requireFields(t, "GET listeners/{id}", raw, one)
	var hm getHealthMonitorResponse
	raw = e.vlb(t, 200, http.MethodGet, base+"/pools/"+web.UUID+"/healthMonitor", nil, &hm)
	requireFields(t, "GET healthMonitor", raw, hm)
	if hm.Data.HealthCheckProtocol != "TCP" || hm.Data.Interval != 30 {
		t.Fatalf("health monitor %+v", hm.Data)
	}
	var members listPoolMembersResponse
	raw = e.vlb(t, 200, http.MethodGet, base+"/pools/"+web.UUID+"/members", nil, &members)
	requireFields(t, "GET members", raw, members)
	if len(members.Data) != 1 || members.Data[0].Address != "10.76.0.11" || members.Data[0].ProtocolPort != 30080 {
		t.Fatalf("members %+v", members.Data)
	}

	// UpdatePoolMembers replaces the list; the same list again is refused with the SDK's text.
	two := updatePoolMembersRequest{Members: []memberRequest{
		{IpAddress: "10.76.0.11", MonitorPort: 30080, Name: "worker-1", Port: 30080, Weight: 1},
		{IpAddress: "10.76.0.12", MonitorPort: 30080, Name: "worker-2", Port: 30080, Weight: 1},
	}}
	e.vlb(t, 202, http.MethodPut, base+"/pools/"+web.UUID+"/members", two, nil)
	e.waitActive(t, lb.UUID)
	e.refused(t, 400, "the members provided are identical to the existing members in the pool",
		http.MethodPut, "vlb-gateway", base+"/pools/"+web.UUID+"/members", two)

	// UpdatePool (the health monitor rides along).
	hmReq := tcpHealthMonitor()
	hmReq.Interval = 10
	e.vlb(t, 202, http.MethodPut, base+"/pools/"+web.UUID, updatePoolRequest{Algorithm: "LEAST_CONNECTIONS", HealthMonitor: hmReq}, nil)
	e.waitActive(t, lb.UUID)
	e.vlb(t, 200, http.MethodGet, base+"/pools/"+web.UUID+"/healthMonitor", nil, &hm)
	if hm.Data.Interval != 10 {
		t.Fatalf("pool update did not reach the health monitor: %+v", hm.Data)
	}

	// A second pool and listener; duplicated names and ports answer the SDK's texts.
	var p2 uuidResponse
	e.vlb(t, 202, http.MethodPost, base+"/pools", createPoolRequest{Algorithm: "ROUND_ROBIN", PoolName: "api", PoolProtocol: "TCP",
		HealthMonitor: tcpHealthMonitor(), Members: []memberRequest{}}, &p2)
	e.waitActive(t, lb.UUID)
	e.refused(t, 400, "duplicated pool name", http.MethodPost, "vlb-gateway", base+"/pools",
		createPoolRequest{Algorithm: "ROUND_ROBIN", PoolName: "api", PoolProtocol: "TCP", HealthMonitor: tcpHealthMonitor()})
	var l2 uuidResponse
	e.vlb(t, 202, http.MethodPost, base+"/listeners", createListenerRequest{AllowedCidrs: "0.0.0.0/0", ListenerName: "tcp-443",
		ListenerProtocol: "TCP", ListenerProtocolPort: 443, TimeoutClient: 50, TimeoutConnection: 5, TimeoutMember: 50,
		DefaultPoolId: &p2.UUID}, &l2)
	e.waitActive(t, lb.UUID)
	e.refused(t, 400, "duplicated listener protocol port", http.MethodPost, "vlb-gateway", base+"/listeners",
		createListenerRequest{AllowedCidrs: "0.0.0.0/0", ListenerName: "tcp-443-b", ListenerProtocol: "TCP",
			ListenerProtocolPort: 443, TimeoutClient: 50, TimeoutConnection: 5, TimeoutMember: 50})
	e.refused(t, 400, "is used in listener", http.MethodDelete, "vlb-gateway", base+"/pools/"+p2.UUID, nil)

	// UpdateListener is the whole state: defaultPoolId "" detaches the pool.
	e.vlb(t, 202, http.MethodPut, base+"/listeners/"+l2.UUID, updateListenerRequest{AllowedCidrs: "10.0.0.0/8",
		DefaultPoolId: "", TimeoutClient: 50, TimeoutConnection: 5, TimeoutMember: 50}, nil)
	e.waitActive(t, lb.UUID)
	e.vlb(t, 200, http.MethodGet, base+"/listeners/"+l2.UUID, nil, &one)
	if one.Data.DefaultPoolId != "" || one.Data.AllowedCidrs != "10.0.0.0/8" {
		t.Fatalf("listener after update %+v", one.Data)
	}
	e.vlb(t, 202, http.MethodDelete, base+"/pools/"+p2.UUID, nil, nil)
	e.waitActive(t, lb.UUID)
	e.vlb(t, 202, http.MethodDelete, base+"/listeners/"+l2.UUID, nil, nil)
	e.waitActive(t, lb.UUID)
	e.refused(t, 404, "cannot get listener with id", http.MethodGet, "vlb-gateway", base+"/listeners/"+l2.UUID, nil)
	e.refused(t, 404, "cannot get pool with id", http.MethodGet, "vlb-gateway", base+"/pools/"+p2.UUID+"/healthMonitor", nil)

	// Tags (vngcloud_tags.go): ListTags, CreateTags (POST, adds), UpdateTags (PUT, whole list).
	var tags []tagResponse
	raw = e.vserver(t, 200, http.MethodGet, "tag/resource/"+lb.UUID, nil, &tags)
	if !hasTag(tags, "vks-cluster-id", cluster) {
		t.Fatalf("tags of the new load balancer: %s", raw)
	}
	requireFields(t, "GET tag/resource/{id}", raw, []tagResponse{})
	e.vserver(t, 200, http.MethodPost, "tag/resource/"+lb.UUID, tagsRequest{ResourceID: lb.UUID, ResourceType: "LOAD-BALANCER",
		TagRequestList: []tag{{Key: "owner", Value: "sdk"}}}, nil)
	e.vserver(t, 200, http.MethodGet, "tag/resource/"+lb.UUID, nil, &tags)
	if !hasTag(tags, "owner", "sdk") || !hasTag(tags, "vks-cluster-id", cluster) {
		t.Fatalf("tags after create: %+v", tags)
	}
	e.vserver(t, 200, http.MethodPut, "tag/resource/"+lb.UUID, tagsRequest{ResourceID: lb.UUID, ResourceType: "LOAD-BALANCER",
		TagRequestList: []tag{{Key: "vks-cluster-id", Value: cluster}}}, nil)
	e.vserver(t, 200, http.MethodGet, "tag/resource/"+lb.UUID, nil, &tags)
	if hasTag(tags, "owner", "sdk") || !hasTag(tags, "vks-cluster-id", cluster) {
		t.Fatalf("tags after update: %+v", tags)
	}

	// ResizeLoadBalancer; the same package again answers the SDK's text.
	medium := packageNamed(t, e, "NLB_Medium", "Layer 4")
	e.vlb(t, 202, http.MethodPut, base+"/resize", resizeRequest{PackageID: medium.UUID}, nil)
	lb = e.waitActive(t, lb.UUID)
	if lb.PackageID != medium.UUID {
		t.Fatalf("resize: package %s", lb.PackageID)
	}
	e.refused(t, 400, "is the same as the current package", http.MethodPut, "vlb-gateway", base+"/resize", resizeRequest{PackageID: medium.UUID})

	// DeleteLoadBalancerById; then GetLoadBalancerById answers the not-found text.
	e.vlb(t, 202, http.MethodDelete, base, nil, nil)
	deadline := time.Now().Add(20 * time.Second)
	for {
		status, _ := e.call(t, http.MethodGet, "vlb-gateway", base, nil)
		if status == 404 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("load balancer %s still there after delete", lb.UUID)
		}
		time.Sleep(20 * time.Millisecond)
	}
	e.refused(t, 404, "cannot get load balancer with id", http.MethodGet, "vlb-gateway", base, nil)
}

func hasTag(tags []tagResponse, k, v string) bool {
	for _, t := range tags {
		if t.Key == k && t.Value == v {
			return true
		}
	}
	return false
}

const testPEM = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"
const testKey = "-----BEGIN PRIVATE KEY-----\nx\n-----END PRIVATE KEY-----\n"

func TestApplicationLoadBalancerPoliciesAndCertificatesAsTheGoControllerDrivesThem(t *testing.T) {
	e := emulator(t)
	alb := packageNamed(t, e, "ALB_Small", "Layer 7")

	// Certificates (vngcloud_certificate.go): CreateCertificate 201, ListCertificates, GetCertificateById.
	certName := unique("sdk-cert")
	var cert createCertificateResponse
	raw := e.vlb(t, 201, http.MethodPost, "cas", createCertificateRequest{Name: certName, Type: "TLS/SSL", Certificate: testPEM,
		PrivateKey: ptr(testKey)}, &cert)
	requireFields(t, "POST cas", raw, cert)
	var certs listCertificatesResponse
	raw = e.vlb(t, 200, http.MethodGet, "cas", nil, &certs)
	requireFields(t, "GET cas", raw, certs)
	var got certificate
	raw = e.vlb(t, 200, http.MethodGet, "cas/"+cert.Data.UUID, nil, &got)
	requireFields(t, "GET cas/{id}", raw, got)
	if got.Name != certName {
		t.Fatalf("certificate %+v", got)
	}

	zone := e.zone()
	var created uuidResponse
	e.vlb(t, 202, http.MethodPost, "loadBalancers", createLoadBalancerRequest{
		Name: unique("sdk-alb"), PackageID: alb.UUID, Scheme: "Internet", SubnetID: e.subnet(), Type: "Layer 7",
		Listener: &createListenerRequest{AllowedCidrs: "0.0.0.0/0", ListenerName: "http-80", ListenerProtocol: "HTTP",
			ListenerProtocolPort: 80, TimeoutClient: 50, TimeoutConnection: 5, TimeoutMember: 50,
			InsertHeaders: &[]insertHeader{{HeaderName: "X-Forwarded-For", HeaderValue: "true"}}},
		Pool: &createPoolRequest{Algorithm: "ROUND_ROBIN", PoolName: "web", PoolProtocol: "HTTP", Stickiness: ptr(false),
			TLSEncryption: ptr(false), HealthMonitor: healthMonitorRequest{HealthCheckProtocol: "HTTP", HealthyThreshold: 3,
				UnhealthyThreshold: 3, Interval: 30, Timeout: 5, HealthCheckMethod: ptr("GET"), HttpVersion: ptr("1.1"),
				HealthCheckPath: ptr("/healthz"), DomainName: ptr("nip.io"), SuccessCode: ptr("200")},
			Members: []memberRequest{{IpAddress: "10.76.0.11", MonitorPort: 30080, Name: "worker-1", Port: 30080, Weight: 1}}},
		ZoneId: &zone,
	}, &created)
	lb := e.waitActive(t, created.UUID)
	base := "loadBalancers/" + lb.UUID
	var listeners listListenersResponse
	raw = e.vlb(t, 200, http.MethodGet, base+"/listeners", nil, &listeners)
	requireFields(t, "GET listeners (HTTP, insert headers)", raw, listeners)
	var pools listPoolsResponse
	raw = e.vlb(t, 200, http.MethodGet, base+"/pools", nil, &pools)
	requireFields(t, "GET pools (HTTP, members)", raw, pools)
	if len(listeners.Data) != 1 || len(pools.Data) != 1 || len(listeners.Data[0].InsertHeaders) != 1 || len(pools.Data[0].Members) != 1 {
		t.Fatalf("inline listener and pool: %+v %+v", listeners.Data, pools.Data)
	}
	lis, web := listeners.Data[0], pools.Data[0]
	var hm getHealthMonitorResponse
	raw = e.vlb(t, 200, http.MethodGet, base+"/pools/"+web.UUID+"/healthMonitor", nil, &hm)
	requireFields(t, "GET healthMonitor (HTTP)", raw, hm)
	if hm.Data.HealthCheckPath == nil || *hm.Data.HealthCheckPath != "/healthz" || hm.Data.HttpVersion == nil || *hm.Data.HttpVersion != "1.1" {
		t.Fatalf("HTTP health monitor %s", raw)
	}

	// An HTTPS listener with the imported certificate.
	var https uuidResponse
	e.vlb(t, 202, http.MethodPost, base+"/listeners", createListenerRequest{AllowedCidrs: "0.0.0.0/0", ListenerName: "https-443",
		ListenerProtocol: "HTTPS", ListenerProtocolPort: 443, TimeoutClient: 50, TimeoutConnection: 5, TimeoutMember: 50,
		DefaultPoolId: &web.UUID, CertificateAuthorities: &[]string{}, DefaultCertificateAuthority: &cert.Data.UUID}, &https)
	e.waitActive(t, lb.UUID)
	e.refused(t, 400, "in use", http.MethodDelete, "vlb-gateway", "cas/"+cert.Data.UUID, nil)

	// Policies (vngcloud_policy.go): one body per action, as CreatePolicyRequest.ToRequestBody.
	pol := base + "/listeners/" + lis.UUID + "/l7policies"
	rules := []l7RuleRequest{{CompareType: "STARTS_WITH", RuleType: "PATH", RuleValue: "/api"}}
	var reject, toURL, toPool uuidResponse
	e.vlb(t, 202, http.MethodPost, pol, rejectPolicyRequest{Name: "deny", Action: "REJECT", Rules: rules}, &reject)
	e.waitActive(t, lb.UUID)
	e.vlb(t, 202, http.MethodPost, pol, redirectURLPolicyRequest{Name: "moved", Action: "REDIRECT_TO_URL", Rules: rules,
		RedirectURL: "https://example.com", RedirectHTTPCode: 301, KeepQueryString: true}, &toURL)
	e.waitActive(t, lb.UUID)
	e.vlb(t, 202, http.MethodPost, pol, redirectPoolPolicyRequest{Name: "to-web", Action: "REDIRECT_TO_POOL",
		Rules:          []l7RuleRequest{{CompareType: "EQUAL_TO", RuleType: "HOST_NAME", RuleValue: "a.example.com"}},
		RedirectPoolID: web.UUID}, &toPool)
	e.waitActive(t, lb.UUID)
	var policies listPoliciesResponse
	raw = e.vlb(t, 200, http.MethodGet, pol, nil, &policies)
	requireFields(t, "GET l7policies", raw, policies)
	if len(policies.ListData) != 3 || policies.ListData[0].UUID != reject.UUID || policies.ListData[2].RedirectPoolID != web.UUID {
		t.Fatalf("policies %s", raw)
	}
	var one getPolicyResponse
	raw = e.vlb(t, 200, http.MethodGet, pol+"/"+toURL.UUID, nil, &one)
	requireFields(t, "GET l7policies/{id}", raw, one)
	if one.Data.RedirectURL != "https://example.com" || one.Data.RedirectHTTPCode != 301 || !one.Data.KeepQueryString {
		t.Fatalf("redirect policy %+v", one.Data)
	}
	// UpdatePolicy (no name, the action's fields only), then ReorderPolicies.
	e.vlb(t, 202, http.MethodPut, pol+"/"+toURL.UUID, redirectPoolPolicyRequest{Action: "REDIRECT_TO_POOL", Rules: rules,
		RedirectPoolID: web.UUID}, nil)
	e.waitActive(t, lb.UUID)
	e.vlb(t, 202, http.MethodPut, base+"/listeners/"+lis.UUID+"/reorderL7Policies", reorderPoliciesRequest{Policies: []policyPosition{
		{Position: 1, PolicyId: toPool.UUID}, {Position: 2, PolicyId: toURL.UUID}, {Position: 3, PolicyId: reject.UUID}}}, nil)
	e.waitActive(t, lb.UUID)
	e.vlb(t, 200, http.MethodGet, pol, nil, &policies)
	if policies.ListData[0].UUID != toPool.UUID || policies.ListData[0].Position != 1 {
		t.Fatalf("order after reorder: %+v", policies.ListData)
	}
	if policies.ListData[1].Action != "REDIRECT_TO_POOL" {
		t.Fatalf("updated policy: %+v", policies.ListData[1])
	}
	for _, p := range []string{reject.UUID, toURL.UUID, toPool.UUID} {
		e.vlb(t, 202, http.MethodDelete, pol+"/"+p, nil, nil)
		e.waitActive(t, lb.UUID)
	}

	// Tear down as the controller does: listener, then certificate (204), then the load balancer.
	e.vlb(t, 202, http.MethodDelete, base+"/listeners/"+https.UUID, nil, nil)
	e.waitActive(t, lb.UUID)
	e.vlb(t, 204, http.MethodDelete, "cas/"+cert.Data.UUID, nil, nil)
	e.vlb(t, 202, http.MethodDelete, base, nil, nil)
}

func TestSecurityGroupsRulesServersAndSubnetsAsTheGoControllerDrivesThem(t *testing.T) {
	e := emulator(t)
	srv := e.fx.Servers[0].ID

	// GetServerById (compute/v2): interfaces give the network and subnet of a node.
	var s getServerResponse
	raw := e.vserver(t, 200, http.MethodGet, "servers/"+srv, nil, &s)
	requireFields(t, "GET servers/{id}", raw, s)
	if len(s.Data.InternalInterfaces) == 0 || s.Data.InternalInterfaces[0].SubnetUuid == "" {
		t.Fatalf("server interfaces %s", raw)
	}
	iface := s.Data.InternalInterfaces[0]
	var sub getSubnetResponse
	raw = e.vserver(t, 200, http.MethodGet, "networks/"+iface.NetworkUuid+"/subnets/"+iface.SubnetUuid, nil, &sub)
	requireFields(t, "GET networks/{id}/subnets/{id}", raw, sub)
	if sub.Cidr == "" || sub.NetworkUuid != iface.NetworkUuid {
		t.Fatalf("subnet %s", raw)
	}

	// Security groups (vngcloud_secgroup.go).
	var groups listSecgroupResponse
	raw = e.vserver(t, 200, http.MethodGet, "secgroups", nil, &groups)
	requireFields(t, "GET secgroups", raw, groups)
	name := unique("sdk-sg")
	var sg createSecgroupResponse
	raw = e.vserver(t, 201, http.MethodPost, "secgroups", createSecgroupRequest{Name: name, Description: "sdk contract"}, &sg)
	requireFields(t, "POST secgroups", raw, sg)
	e.refused(t, 400, "already exist", http.MethodPost, "vserver-gateway", "secgroups", createSecgroupRequest{Name: name})
	var one getSecgroupResponse
	raw = e.vserver(t, 200, http.MethodGet, "secgroups/"+sg.Data.UUID, nil, &one)
	requireFields(t, "GET secgroups/{id}", raw, one)
	if one.Data.ID != sg.Data.UUID || one.Data.Name != name {
		t.Fatalf("secgroup %s", raw)
	}

	var rule createSecgroupRuleResponse
	raw = e.vserver(t, 201, http.MethodPost, "secgroups/"+sg.Data.UUID+"/secgroupRules", createSecgroupRuleRequest{
		Direction: "ingress", EtherType: "IPv4", PortRangeMax: 30080, PortRangeMin: 30080, Protocol: "tcp",
		RemoteIpPrefix: "10.76.0.0/24", SecurityGroupId: sg.Data.UUID}, &rule)
	requireFields(t, "POST secgroupRules", raw, rule)
	var rules listSecgroupRulesResponse
	raw = e.vserver(t, 200, http.MethodGet, "secgroups/"+sg.Data.UUID+"/secGroupRules", nil, &rules)
	requireFields(t, "GET secGroupRules", raw, rules)
	if len(rules.Data) != 1 || rules.Data[0].ID != rule.Data.UUID || rules.Data[0].PortRangeMin != 30080 {
		t.Fatalf("rules %s", raw)
	}
	// DeleteSecgroupRuleById: the SDK puts "undefined" where the group id goes.
	e.vserver(t, 204, http.MethodDelete, "secgroups/undefined/secgroupRules/"+rule.Data.UUID, nil, nil)
	e.vserver(t, 200, http.MethodGet, "secgroups/"+sg.Data.UUID+"/secGroupRules", nil, &rules)
	if len(rules.Data) != 0 {
		t.Fatalf("rule still there: %+v", rules.Data)
	}

	// UpdateServerSecgroupsByServerId: the full list of the server's groups.
	before := make([]string, 0, len(s.Data.SecGroups))
	for _, g := range s.Data.SecGroups {
		before = append(before, g.Uuid)
	}
	e.vserver(t, 202, http.MethodPut, "servers/"+srv+"/update-sec-group",
		updateServerSecgroupsRequest{SecurityGroup: append(append([]string{}, before...), sg.Data.UUID)}, nil)
	var attached listServersBySecgroupResponse
	raw = e.vserver(t, 200, http.MethodGet, "secgroups/"+sg.Data.UUID+"/servers", nil, &attached)
	requireFields(t, "GET secgroups/{id}/servers", raw, attached)
	if len(attached.Data) != 1 || attached.Data[0].UUID != srv {
		t.Fatalf("servers of the group %s", raw)
	}
	e.refused(t, 409, "securitygroupinuse", http.MethodDelete, "vserver-gateway", "secgroups/"+sg.Data.UUID, nil)
	// The server is busy changing its groups for a while: retry the detach until accepted.
	deadline := time.Now().Add(20 * time.Second)
	for {
		status, raw := e.call(t, http.MethodPut, "vserver-gateway", "servers/"+srv+"/update-sec-group",
			updateServerSecgroupsRequest{SecurityGroup: before})
		if status == 202 {
			break
		}
		if status != 400 || !strings.Contains(string(raw), "changing-security-group") || time.Now().After(deadline) {
			t.Fatalf("detach: %d %s", status, raw)
		}
		time.Sleep(20 * time.Millisecond)
	}
	e.vserver(t, 204, http.MethodDelete, "secgroups/"+sg.Data.UUID, nil, nil)
	e.refused(t, 404, "cannot get security group with id", http.MethodGet, "vserver-gateway", "secgroups/"+sg.Data.UUID, nil)
}
