package sdkcontract

// Request bodies with the SDK's JSON field names (loadbalancer/v2/*_request(s).go,
// network/v2/*_request.go, compute/v2/server_request.go), filled as the Go controller fills
// them.

type tag struct {
	Key   string `json:"key"`
	Value string `json:"value"`
}

type memberRequest struct {
	Backup      bool   `json:"backup"`
	IpAddress   string `json:"ipAddress"`
	MonitorPort int    `json:"monitorPort"`
	Name        string `json:"name"`
	Port        int    `json:"port"`
	Weight      int    `json:"weight"`
}

type healthMonitorRequest struct {
	HealthCheckProtocol string  `json:"healthCheckProtocol"`
	HealthyThreshold    int     `json:"healthyThreshold"`
	UnhealthyThreshold  int     `json:"unhealthyThreshold"`
	Interval            int     `json:"interval"`
	Timeout             int     `json:"timeout"`
	HealthCheckMethod   *string `json:"healthCheckMethod,omitempty"`
	HttpVersion         *string `json:"httpVersion,omitempty"`
	HealthCheckPath     *string `json:"healthCheckPath,omitempty"`
	DomainName          *string `json:"domainName,omitempty"`
	SuccessCode         *string `json:"successCode,omitempty"`
}

type createPoolRequest struct {
	Algorithm     string               `json:"algorithm"`
	PoolName      string               `json:"poolName"`
	PoolProtocol  string               `json:"poolProtocol"`
	Stickiness    *bool                `json:"stickiness,omitempty"`
	TLSEncryption *bool                `json:"tlsEncryption,omitempty"`
	HealthMonitor healthMonitorRequest `json:"healthMonitor"`
	Members       []memberRequest      `json:"members"`
}

type updatePoolRequest struct {
	Algorithm     string               `json:"algorithm"`
	Stickiness    *bool                `json:"stickiness,omitempty"`
	TLSEncryption *bool                `json:"tlsEncryption,omitempty"`
	HealthMonitor healthMonitorRequest `json:"healthMonitor"`
}

type updatePoolMembersRequest struct {
	Members []memberRequest `json:"members"`
}

type createListenerRequest struct {
	AllowedCidrs                string          `json:"allowedCidrs"`
	ListenerName                string          `json:"listenerName"`
	ListenerProtocol            string          `json:"listenerProtocol"`
	ListenerProtocolPort        int             `json:"listenerProtocolPort"`
	TimeoutClient               int             `json:"timeoutClient"`
	TimeoutConnection           int             `json:"timeoutConnection"`
	TimeoutMember               int             `json:"timeoutMember"`
	DefaultPoolId               *string         `json:"defaultPoolId"`
	CertificateAuthorities      *[]string       `json:"certificateAuthorities"`
	ClientCertificate           *string         `json:"clientCertificate"`
	DefaultCertificateAuthority *string         `json:"defaultCertificateAuthority"`
	InsertHeaders               *[]insertHeader `json:"insertHeaders"`
}

type updateListenerRequest struct {
	AllowedCidrs                string          `json:"allowedCidrs"`
	DefaultPoolId               string          `json:"defaultPoolId"`
	TimeoutClient               int             `json:"timeoutClient"`
	TimeoutConnection           int             `json:"timeoutConnection"`
	TimeoutMember               int             `json:"timeoutMember"`
	CertificateAuthorities      *[]string       `json:"certificateAuthorities"`
	ClientCertificate           *string         `json:"clientCertificate"`
	DefaultCertificateAuthority *string         `json:"defaultCertificateAuthority"`
	InsertHeaders               *[]insertHeader `json:"insertHeaders"`
}

type createLoadBalancerRequest struct {
	Name         string                 `json:"name"`
	PackageID    string                 `json:"packageId"`
	Scheme       string                 `json:"scheme"`
	AutoScalable bool                   `json:"autoScalable"`
	SubnetID     string                 `json:"subnetId"`
	Type         string                 `json:"type"`
	Listener     *createListenerRequest `json:"listener"`
	Pool         *createPoolRequest     `json:"pool"`
	Tags         []tag                  `json:"tags,omitempty"`
	IsPoc        bool                   `json:"isPoc"`
	ZoneId       *string                `json:"zoneId"`
}

type resizeRequest struct {
	PackageID string `json:"packageId"`
}

type tagsRequest struct {
	ResourceID     string `json:"resourceId"`
	ResourceType   string `json:"resourceType"`
	TagRequestList []tag  `json:"tagRequestList"`
}

type l7RuleRequest struct {
	CompareType string `json:"compareType"`
	RuleType    string `json:"ruleType"`
	RuleValue   string `json:"ruleValue"`
}

// The three bodies of CreatePolicyRequest.ToRequestBody, one per action.
type rejectPolicyRequest struct {
	Name   string          `json:"name"`
	Action string          `json:"action"`
	Rules  []l7RuleRequest `json:"rules"`
}

type redirectURLPolicyRequest struct {
	Name             string          `json:"name,omitempty"`
	Action           string          `json:"action"`
	Rules            []l7RuleRequest `json:"rules"`
	RedirectURL      string          `json:"redirectUrl"`
	RedirectHTTPCode int             `json:"redirectHttpCode"`
	KeepQueryString  bool            `json:"keepQueryString"`
}

type redirectPoolPolicyRequest struct {
	Name           string          `json:"name,omitempty"`
	Action         string          `json:"action"`
	Rules          []l7RuleRequest `json:"rules"`
	RedirectPoolID string          `json:"redirectPoolId"`
}

type policyPosition struct {
	Position int    `json:"position"`
	PolicyId string `json:"policyId"`
}

type reorderPoliciesRequest struct {
	Policies []policyPosition `json:"policies"`
}

type createCertificateRequest struct {
	Name             string  `json:"name"`
	Type             string  `json:"type"`
	Certificate      string  `json:"certificate"`
	CertificateChain *string `json:"certificateChain"`
	Passphrase       *string `json:"passphrase"`
	PrivateKey       *string `json:"privateKey"`
}

type createSecgroupRequest struct {
	Name        string `json:"name"`
	Description string `json:"description"`
}

type createSecgroupRuleRequest struct {
	Description     string `json:"description"`
	Direction       string `json:"direction"`
	EtherType       string `json:"etherType"`
	PortRangeMax    int    `json:"portRangeMax"`
	PortRangeMin    int    `json:"portRangeMin"`
	Protocol        string `json:"protocol"`
	RemoteIpPrefix  string `json:"remoteIpPrefix"`
	SecurityGroupId string `json:"securityGroupId"`
}

type updateServerSecgroupsRequest struct {
	SecurityGroup []string `json:"securityGroup"`
}

func ptr[T any](v T) *T { return &v }

func tcpHealthMonitor() healthMonitorRequest {
	return healthMonitorRequest{HealthCheckProtocol: "TCP", HealthyThreshold: 3, UnhealthyThreshold: 3, Interval: 30, Timeout: 5}
}
