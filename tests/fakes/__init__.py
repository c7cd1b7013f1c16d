"""Stand-ins for nvmetcli, nvme-cli, LVM and the nvmet configfs tree, used by the tests."""
