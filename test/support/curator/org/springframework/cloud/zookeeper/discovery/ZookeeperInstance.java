/*
 * Test double of Spring Cloud Zookeeper's payload class, compiled into the Curator probe only.
 *
 * Curator writes a payload's runtime class name as "@class" (ServiceInstance.getPayload carries
 * @JsonTypeInfo(use = CLASS)) and resolves it with Class.forName when reading, so the probe
 * needs a class with exactly this fully qualified name to read and write what a Spring Cloud
 * Zookeeper app does. Shape as in spring-cloud-zookeeper's ZookeeperInstance: a plain POJO with
 * no Jackson annotations of its own, a private no-argument constructor for Jackson, getters and
 * setters for id, name and a String-to-String metadata map.
 */
package org.springframework.cloud.zookeeper.discovery;

import java.util.HashMap;
import java.util.Map;

public class ZookeeperInstance {
    private String id;
    private String name;
    private Map<String, String> metadata = new HashMap<>();

    @SuppressWarnings("unused")
    private ZookeeperInstance() {
    }

    public ZookeeperInstance(String id, String name, Map<String, String> metadata) {
        this.id = id;
        this.name = name;
        this.metadata = metadata;
    }

    public String getId() {
        return this.id;
    }

    public String getName() {
        return this.name;
    }

    public void setId(String id) {
        this.id = id;
    }

    public void setName(String name) {
        this.name = name;
    }

    public Map<String, String> getMetadata() {
        return this.metadata;
    }

    public void setMetadata(Map<String, String> metadata) {
        this.metadata = metadata;
    }

    @Override
    public String toString() {
        return "ZookeeperInstance{id='" + this.id + "', name='" + this.name + "', metadata=" + this.metadata + '}';
    }
}
