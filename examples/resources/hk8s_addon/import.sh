# <cluster name>/<namespace>/<addon name>
terraform import hk8s_addon.csi prod/kube-system/hcloud-csi
