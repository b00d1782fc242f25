"""An online migration file that lacks the `rename` function."""

from online_migrations import change_table, restart_copy


def run(**kwargs):
    change_table("default", "t_cmd", "CREATE TABLE `t_cmd` (`id` int PRIMARY KEY, `v` int)", [], ["id", "v"], ["id", "v"], **kwargs)


def restart(**kwargs):
    restart_copy("default", "t_cmd", ["id", "v"], ["id", "v"], **kwargs)
