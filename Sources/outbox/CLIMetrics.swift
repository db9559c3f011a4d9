import Metrics
import Prometheus

/// The tool's metrics backend: Prometheus, bootstrapped once (only by commands that serve metrics).
enum CLIMetrics {
    static let registry: PrometheusCollectorRegistry = {
        let registry = PrometheusCollectorRegistry()
        MetricsSystem.bootstrap(PrometheusMetricsFactory(registry: registry))
        return registry
    }()

    static func bootstrap() -> PrometheusCollectorRegistry { registry }
}
